// fused_combine.cuh - the split-K merge done by the decode grid itself, in
// place of the combine kernel (docs/small_batch_design.md (d)): a
// per-(request, M tile) arrival count, then a merge shared by the CTAs that
// wrote the partials. For kernels whose whole grid is co-resident (launched
// cooperatively, so an unfit grid fails instead of hanging); the launch
// decides (decode_params.h, `arrivals`).
//
// Every CTA, after its last item:
//   1. arrives once for each of its split items with rows in its M tile
//      (all of its partials stored and fenced first);
//   2. on M tile 0, writes the rows of the flagged requests of the combine
//      list entries e = blockIdx.x, + gridDim.x, ... (output 0, LSE NaN);
//   3. for each such split item s of n: waits until the n CTAs of that
//      (request, M tile) have arrived, merges the units u = s, s + n, ... of
//      the tile (the combine kernel's units: row chunks of kCombineWarps rows
//      below kCombineWideSplits splits, (row, column part) from there on),
//      and departs; the last of the n to depart resets the count to 0, so a
//      decode run again on the same plan starts from zero.
// Arrivals all come before any wait, so the waits cannot form a cycle. Each
// unit runs the combine kernel's function on the same data in the same
// order: the bits equal the combine kernel's (tests/cuda/test_fused_combine.cpp).
#pragma once

#include <cstdint>

#include "combine.cuh"
#include "config.h"
#include "decode_params.h"
#include "mla/constants.h"

namespace mla::cuda_impl {

__device__ __forceinline__ int32_t ld_acquire_gpu(const int32_t* p) {
  int32_t v;
  asm volatile("ld.acquire.gpu.global.b32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// Rows of M tile m of a request (0 when the tile is past its rows or it has no work).
__device__ __forceinline__ int32_t fused_tile_rows(const DecodeParams& p, const RequestInfo& rq, int32_t m) {
  if (rq.status != 0 || rq.q_len <= 0) return 0;
  const int32_t rows = rq.q_len * p.num_heads - m * kBlockM;
  return rows <= 0 ? 0 : (rows < kBlockM ? rows : kBlockM);
}

// Run by the kCombineThreads threads of a decode CTA that wrote its outputs
// (tid: 0 .. kCombineThreads - 1 among them; sync: their barrier; ws: free
// shared memory). Call after the group's last output store.
template <class Sync>
__device__ __forceinline__ void fused_combine(const DecodeParams& p, int32_t m_tile, uint32_t tid, Sync sync,
                                              WideScratch* ws) {
  const int32_t begin = p.part_begin[blockIdx.x], end = p.part_begin[blockIdx.x + 1];
  const int warp = int(tid >> 5);
  sync();  // every thread's partial stores are issued
  if (tid == 0) {
    __threadfence();  // ... and visible to the GPU before the counts move (cumulative over the barrier)
    for (int32_t i = begin; i < end; ++i) {
      const WorkItem it = p.items[i];
      if (it.num_splits > 1 && fused_tile_rows(p, p.requests[it.request], m_tile) > 0)
        atomicAdd(p.arrivals + int64_t(it.request) * p.max_m_tiles + m_tile, 1);
    }
  }

  if (m_tile == 0) {
    const int32_t count = *p.combine_count;
    for (int32_t e = int32_t(blockIdx.x); e < count; e += int32_t(gridDim.x)) {
      const RequestInfo rq = p.requests[p.combine_list[e]];
      if (rq.status == 0) continue;
      const int64_t rows = int64_t(rq.fault_q_len) * p.num_heads, g0 = int64_t(rq.q_begin) * p.num_heads;
      for (int64_t r = warp; r < rows; r += kCombineWarps) fault_row(p.out + (g0 + r) * MLA_DIM_V, p.lse + g0 + r);
    }
  }

  for (int32_t i = begin; i < end; ++i) {
    const WorkItem it = p.items[i];
    if (it.num_splits <= 1) continue;
    const RequestInfo rq = p.requests[it.request];
    const int32_t rows = fused_tile_rows(p, rq, m_tile);
    if (rows == 0) continue;
    const int32_t n = it.num_splits;
    int32_t* counter = p.arrivals + int64_t(it.request) * p.max_m_tiles + m_tile;
    if (tid == 0)
      while (ld_acquire_gpu(counter) < n) __nanosleep(32);
    sync();  // the n CTAs' partials are visible to the group past this point
    const int64_t stride = int64_t(rq.q_len) * p.num_heads;  // rows of one split
    const int64_t tile_row0 = int64_t(m_tile) * kBlockM;     // request row of tile row 0
    const int64_t g0 = int64_t(rq.q_begin) * p.num_heads + tile_row0;
    const int64_t w0 = int64_t(rq.partial_row) + tile_row0;
    if (n < kCombineWideSplits) {
      static_assert(kBlockM % kCombineWarps == 0, "row chunks of a tile are the combine kernel's chunks");
      const int32_t chunks = (rows + kCombineWarps - 1) / kCombineWarps;
      for (int32_t c = it.split; c < chunks; c += n) {
        const int32_t r = c * kCombineWarps + warp;
        if (r < rows)
          combine_row(p.partial_out, p.partial_lse, w0 + r, stride, n, p.out + (g0 + r) * MLA_DIM_V, p.lse + g0 + r);
      }
    } else {
      for (int32_t u = it.split; u < rows * kCombineColParts; u += n) {
        const int32_t r = u / kCombineColParts, part = u - r * kCombineColParts;
        combine_row_part_wide(p.partial_out, p.partial_lse, w0 + r, stride, n, part, p.out + (g0 + r) * MLA_DIM_V,
                              p.lse + g0 + r, ws, tid, sync);
      }
    }
    if (tid == 0 && atomicAdd(counter, 1) == 2 * n - 1) atomicExch(counter, 0);  // the last to leave resets
  }
}

}  // namespace mla::cuda_impl
