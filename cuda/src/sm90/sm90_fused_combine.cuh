// sm90_fused_combine.cuh - the split-K merge done by the sm_90a decode grid
// itself, in place of the combine kernel (docs/small_batch_design.md (d)):
// a per-(request, M tile) arrival count, then a merge shared by the CTAs
// that wrote the partials. Only for a grid that is co-resident (launched
// cooperatively, so an unfit grid fails instead of hanging); the launch
// decides (decode_params.h, `arrivals`). Run by the two consumer warpgroups
// after their last item.
//
// Every CTA, after its last item:
//   1. arrives once for each of its split items with rows in its M tile
//      (all of its partials stored and fenced first);
//   2. on M tile 0, writes the rows of the flagged requests of the combine
//      list entries e = blockIdx.x, + gridDim.x, ... (output 0, LSE NaN);
//   3. for each such split item s of n: waits until the n CTAs of that
//      (request, M tile) have arrived, merges its share of the tile's
//      slices (merge_share) and departs; the last of the n to depart resets
//      the count to 0, so a decode run again on the same plan starts from 0.
// Arrivals all come before any wait, so the waits cannot form a cycle.
//
// Slices. A slice is one row's 128-column quarter; the tile's 4 x rows
// slices are dealt to its n CTAs (slice e to split e mod n). A CTA copies the
// n partial pieces (512 B each) of its slices into the shared memory of the
// KV stages with 16-byte cp.async, every consumer thread a share, all in
// flight at once (one L2 round trip), and their LSEs with plain loads, then
// merges from shared memory. (Register loads from 8 warps needed several
// round trips and spilled; one bulk copy a piece was limited by the copy
// engine's per-request cost, ~40 ns: both measured slower than the combine
// kernel, docs/perf_notes.md.) Every output column gets the combine
// kernel's arithmetic in its order, so the bits are the same
// (tests/cuda/test_fused_combine.cpp): below kCombineWideSplits splits one
// sum over s ascending (combine_row), from there on 8 sums over s = k, k + 8,
// ... (k = 0..7) ascending, added in k order (combine_row_part_wide).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "../combine.cuh"
#include "../config.h"
#include "../decode_params.h"
#include "mla/constants.h"
#include "sm90_config.cuh"
#include "sm90_sync.cuh"
#include "sm90_tma.cuh"

// Measurement builds only (results are garbage): MLA_FUSED_DEV bit 0 skips
// the merge itself, bit 1 also the wait for the other CTAs, bit 2 the merge's
// arithmetic and stores, bit 3 its copies into shared memory. 0 in every real build.
#ifndef MLA_FUSED_DEV
#define MLA_FUSED_DEV 0
#endif

namespace mla::cuda_impl::sm90 {

// Shared memory of the merge (byte offsets from the aligned base): the KV
// stages and the P buffer, both free once the last item has ended.
namespace merge_smem {
constexpr uint32_t kSlotBytes = kCombinePartCols * 4;                  // one split's piece of a slice
constexpr uint32_t kSlots = smem::kKV;                                 // staged pieces, slot k at k x 512
constexpr uint32_t kMaxSlots = kStages * kTileBytes / kSlotBytes;      // 288
constexpr uint32_t kMaxSlices = 128;                                   // slices a round
constexpr uint32_t kAcc = smem::kP;                                    // CTA slices: [8 warps][32 lanes] float4
constexpr uint32_t kWsum = kAcc + kCombineWarps * 32 * 16;             // CTA slices: 8 warp sums of weights
constexpr uint32_t kWeights = kWsum + kCombineWarps * 4;               // slot k: its LSE, then its weight
constexpr uint32_t kMax = kWeights + kMaxSlots * 4;                    // slice j: max LSE
constexpr uint32_t kFlag = kMax + kMaxSlices * 4;                      // slice j: 1 a NaN split, 2 all empty
constexpr uint32_t kEnd = kFlag + kMaxSlices * 4;
static_assert(kEnd <= smem::kP + 64 * 128, "the merge's bookkeeping fits the P buffer");
}  // namespace merge_smem

// The consumer warpgroups as one group (tid 0..255).
__device__ __forceinline__ void merge_sync() { named_sync(kBarMerge, kConsumerThreads); }

__device__ __forceinline__ int32_t ld_acquire_gpu(const int32_t* p) {
  int32_t v;
  asm volatile("ld.acquire.gpu.global.b32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;" ::: "memory"); }

// Rows of M tile m of a request (0 when the tile is past its rows or it has no work).
__device__ __forceinline__ int32_t fused_tile_rows(const DecodeParams& p, const RequestInfo& rq, int32_t m) {
  if (rq.status != 0 || rq.q_len <= 0) return 0;
  const int32_t rows = rq.q_len * p.num_heads - m * kBlockM;
  return rows <= 0 ? 0 : (rows < kBlockM ? rows : kBlockM);
}

struct TileMerge {
  int32_t n;       // splits
  int64_t stride;  // workspace rows of one split (q_len x H)
  int64_t w0;      // workspace row of tile row 0 in split 0
  int64_t g0;      // global output row of tile row 0
};

// Four columns of a lane, each scaled by inv, as BF16 (round to nearest even).
__device__ __forceinline__ void store_quad(const DecodeParams& p, int64_t grow, int32_t col, float4 v, float inv) {
  const __nv_bfloat162 a = __floats2bfloat162_rn(v.x * inv, v.y * inv);
  const __nv_bfloat162 b = __floats2bfloat162_rn(v.z * inv, v.w * inv);
  *reinterpret_cast<uint2*>(p.out + grow * MLA_DIM_V + col) =
      make_uint2(*reinterpret_cast<const uint32_t*>(&a), *reinterpret_cast<const uint32_t*>(&b));
}

// Slice j of a round: lane's 4 columns of the piece of split t.
__device__ __forceinline__ float4 staged(const uint8_t* base, int32_t slot, uint32_t lane) {
  return *reinterpret_cast<const float4*>(base + merge_smem::kSlots + uint32_t(slot) * merge_smem::kSlotBytes +
                                          lane * 16);
}

// One round: `cnt` slices e = e0, e0 + step, ... of tile t.
__device__ __forceinline__ void merge_round(const DecodeParams& p, const TileMerge& t, int32_t e0, int32_t step,
                                            int32_t cnt, uint32_t tid, uint8_t* base, uint32_t sbase) {
  using namespace merge_smem;
  const uint32_t lane = tid & 31, warp = tid >> 5;
  const int32_t n = t.n, slots = cnt * n;
  float* wts = reinterpret_cast<float*>(base + kWeights);
  float* mxs = reinterpret_cast<float*>(base + kMax);
  uint32_t* flags = reinterpret_cast<uint32_t*>(base + kFlag);
  // Pieces: 16 bytes a thread at a time, slot k's 32 chunks by 32 consecutive threads.
  constexpr int32_t kChunks = int32_t(kSlotBytes / 16);
  for (int32_t f = int32_t(tid); !(MLA_FUSED_DEV & 8) && f < slots * kChunks; f += kConsumerThreads) {
    const int32_t k = f / kChunks, c = f - k * kChunks, j = k / n, s = k - j * n, e = e0 + j * step;
    const float* src =
        p.partial_out + (t.w0 + (e >> 2) + s * t.stride) * MLA_DIM_V + (e & 3) * kCombinePartCols + c * 4;
    cp_async_16(sbase + kSlots + uint32_t(f) * 16u, src, 16u);
  }
  // LSEs, every thread a few, meanwhile.
  for (int32_t k = int32_t(tid); k < slots; k += kConsumerThreads) {
    const int32_t j = k / n, s = k - j * n, e = e0 + j * step;
    wts[k] = __ldcg(p.partial_lse + t.w0 + (e >> 2) + s * t.stride);
  }
  merge_sync();
  // Max, flags and weights of each slice (a warp a slice).
  for (int32_t j = int32_t(warp); j < cnt; j += kCombineWarps) {
    float mx = -INFINITY;
    bool nan_seen = false;
    for (int32_t s = int32_t(lane); s < n; s += 32) {
      const float l = wts[j * n + s];
      nan_seen |= isnan(l);
      mx = fmaxf(mx, l);
    }
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, d));
    nan_seen = __any_sync(0xffffffffu, nan_seen);
    if (!nan_seen && mx != -INFINITY)
      for (int32_t s = int32_t(lane); s < n; s += 32) wts[j * n + s] = expf(wts[j * n + s] - mx);  // 0: empty split
    if (lane == 0) {
      mxs[j] = mx;
      flags[j] = nan_seen ? 1u : (mx == -INFINITY ? 2u : 0u);
    }
  }
  cp_async_wait_all();
  merge_sync();  // every thread's pieces have landed and are visible to the group

  const bool wide = n >= kCombineWideSplits;
  if (MLA_FUSED_DEV & 4) {
  } else if (wide && cnt < kCombineWarps) {
    // Few slices: each by all 8 warps, warp k summing splits k, k + 8, ...
    float4* acc_s = reinterpret_cast<float4*>(base + kAcc);
    float* wsum_s = reinterpret_cast<float*>(base + kWsum);
    for (int32_t j = 0; j < cnt; ++j) {
      const int32_t e = e0 + j * step, part = e & 3;
      const int64_t grow = t.g0 + (e >> 2);
      const uint32_t flag = flags[j];
      if (flag != 0) {  // the same for every warp: no barrier is skipped by some only
        if (warp == 0) {
          const float f = flag == 1 ? NAN : 0.f;
          store_quad(p, grow, part * kCombinePartCols + int32_t(lane) * 4, make_float4(f, f, f, f), 1.f);
          if (part == 0 && lane == 0) p.lse[grow] = flag == 1 ? NAN : -INFINITY;
        }
        continue;
      }
      float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
      float wsum = 0.f;
      for (int32_t s = int32_t(warp); s < n; s += kCombineWarps) {
        const float w = wts[j * n + s];
        const float4 x = staged(base, j * n + s, lane);
        wsum += w;
        acc.x += w * x.x;
        acc.y += w * x.y;
        acc.z += w * x.z;
        acc.w += w * x.w;
      }
      acc_s[warp * 32 + lane] = acc;
      if (lane == 0) wsum_s[warp] = wsum;
      merge_sync();
      if (tid < kCombinePartCols / 2) {
        const int c = int(tid) * 2;  // two columns of the part, summed in warp order
        const float* a = reinterpret_cast<const float*>(acc_s);
        float a0 = 0.f, a1 = 0.f, W = 0.f;
#pragma unroll
        for (int w = 0; w < kCombineWarps; ++w) {
          a0 += a[w * kCombinePartCols + c];
          a1 += a[w * kCombinePartCols + c + 1];
          W += wsum_s[w];
        }
        const float inv = 1.f / W;
        *reinterpret_cast<__nv_bfloat162*>(p.out + grow * MLA_DIM_V + part * kCombinePartCols + c) =
            __floats2bfloat162_rn(a0 * inv, a1 * inv);
        if (part == 0 && tid == 0) p.lse[grow] = mxs[j] + logf(W);
      }
      merge_sync();
    }
  } else {
    // A warp a slice.
    for (int32_t j = int32_t(warp); j < cnt; j += kCombineWarps) {
      const int32_t e = e0 + j * step, part = e & 3, col = part * kCombinePartCols + int32_t(lane) * 4;
      const int64_t grow = t.g0 + (e >> 2);
      const bool lse_writer = part == 0 && lane == 0;
      const uint32_t flag = flags[j];
      if (flag != 0) {
        const float f = flag == 1 ? NAN : 0.f;
        store_quad(p, grow, col, make_float4(f, f, f, f), 1.f);
        if (lse_writer) p.lse[grow] = flag == 1 ? NAN : -INFINITY;
        continue;
      }
      float4 a = make_float4(0.f, 0.f, 0.f, 0.f);
      float W = 0.f;
      if (!wide) {
        for (int32_t s = 0; s < n; ++s) {
          const float w = wts[j * n + s];
          const float4 x = staged(base, j * n + s, lane);
          W += w;
          a.x += w * x.x;
          a.y += w * x.y;
          a.z += w * x.z;
          a.w += w * x.w;
        }
      } else {
        float4 acc[kCombineWarps];
        float ws[kCombineWarps];
#pragma unroll
        for (int k = 0; k < kCombineWarps; ++k) {
          acc[k] = make_float4(0.f, 0.f, 0.f, 0.f);
          ws[k] = 0.f;
        }
        for (int32_t s0 = 0; s0 < n; s0 += kCombineWarps) {
#pragma unroll
          for (int k = 0; k < kCombineWarps; ++k)
            if (s0 + k < n) {
              const float w = wts[j * n + s0 + k];
              const float4 x = staged(base, j * n + s0 + k, lane);
              ws[k] += w;
              acc[k].x += w * x.x;
              acc[k].y += w * x.y;
              acc[k].z += w * x.z;
              acc[k].w += w * x.w;
            }
        }
#pragma unroll
        for (int k = 0; k < kCombineWarps; ++k) {
          a.x += acc[k].x;
          a.y += acc[k].y;
          a.z += acc[k].z;
          a.w += acc[k].w;
          W += ws[k];
        }
      }
      store_quad(p, grow, col, a, 1.f / W);
      if (lse_writer) p.lse[grow] = mxs[j] + logf(W);
    }
  }
  merge_sync();  // the slots and weights are free for the next round
}

// The share of CTA `s` (split s of n) in the merge of a tile of `rows` rows:
// slices e = s, s + n, ... of the 4 x rows, in rounds that fit the staging space.
__device__ __forceinline__ void merge_share(const DecodeParams& p, const TileMerge& t, int32_t s, int32_t rows,
                                            uint32_t tid, uint8_t* base, uint32_t sbase) {
  const int32_t slices = rows * kCombineColParts;
  const int32_t mine = s < slices ? (slices - s + t.n - 1) / t.n : 0;
  int32_t per_round = int32_t(merge_smem::kMaxSlots) / t.n;
  if (per_round > int32_t(merge_smem::kMaxSlices)) per_round = int32_t(merge_smem::kMaxSlices);
  for (int32_t j0 = 0; j0 < mine; j0 += per_round) {
    const int32_t cnt = mine - j0 < per_round ? mine - j0 : per_round;
    merge_round(p, t, s + j0 * t.n, t.n, cnt, tid, base, sbase);
  }
}

// Run by the 256 consumer threads of a decode CTA after their last output
// store. Not inlined: inlined, its values stayed live across the item loops
// (the consumers' registers are the kernel's scarcest thing); everything is
// recomputed here from the parameters and special registers.
__device__ __noinline__ void fused_combine(const DecodeParams& params) {
#if MLA_SM90_DEVICE
  // A private copy: read through the reference, every field would be loaded
  // again after each asm "memory" clobber (cp.async, barriers), a dependent
  // load in every loop iteration; the copy's fields live in registers.
  const DecodeParams p = params;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t pad = ((raw + 1023u) & ~1023u) - raw;
  uint8_t* base = smem_raw + pad;
  const uint32_t sbase = raw + pad;
  const uint32_t tid = threadIdx.x - kWarpgroupThreads;
  const int32_t m_tile = int32_t(blockIdx.y);
  const int32_t begin = p.part_begin[blockIdx.x], end = p.part_begin[blockIdx.x + 1];
  const int warp = int(tid >> 5);

  merge_sync();  // every thread's partial stores are issued
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
    if (tid == 0 && !(MLA_FUSED_DEV & 2))
      while (ld_acquire_gpu(counter) < n) __nanosleep(32);
    merge_sync();  // the n CTAs' partials are visible to the group past this point
    TileMerge t;
    t.n = n;
    t.stride = int64_t(rq.q_len) * p.num_heads;
    t.w0 = int64_t(rq.partial_row) + int64_t(m_tile) * kBlockM;
    t.g0 = int64_t(rq.q_begin) * p.num_heads + int64_t(m_tile) * kBlockM;
    if (!(MLA_FUSED_DEV & 1)) merge_share(p, t, it.split, rows, tid, base, sbase);
    if (tid == 0 && atomicAdd(counter, 1) == 2 * n - 1) atomicExch(counter, 0);  // the last to leave resets
  }
#else
  (void)params;
#endif
}

}  // namespace mla::cuda_impl::sm90
