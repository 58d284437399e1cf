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
//      (request, M tile) have arrived, merges its share of the tile's
//      slices (merge_tile_share) and departs; the last of the n to depart
//      resets the count to 0, so a decode run again on the same plan starts
//      from zero.
// Arrivals all come before any wait, so the waits cannot form a cycle. Each
// column gets the combine kernel's arithmetic on the same data in the same
// order per column: the bits equal the combine kernel's
// (tests/cuda/test_fused_combine.cpp).
#pragma once

#include <cuda_bf16.h>

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

// ---- the merge of one (request, M tile), in slices ----
// A slice is one row's 128-column quarter (a float4 a lane). Every output
// column depends only on its own column of the partials, so any cut into
// slices gives the combine kernel's bits as long as each column sees the same
// arithmetic in the same order: with n < kCombineWideSplits splits
// (combine_row) one sum over s ascending; from there on
// (combine_row_part_wide) 8 sums over s = k, k + 8, ... (k = 0..7) ascending,
// then added in k order. What differs from the combine kernel is only how
// many loads are in flight: the merge runs on one CTA a SM (8 warps, not
// 24), so every slice issues all its loads (up to kFusedSlots float4 a lane)
// before it waits for any.
constexpr int kFusedSlots = 8;   // float4 loads a lane issues at once (warp slices)
constexpr int kFusedCtaBatch = 17;  // splits a warp loads at once in a CTA slice (n <= 136 in one round)

struct TileMerge {
  int32_t n;        // splits
  int64_t stride;   // workspace rows of one split (q_len x H)
  int64_t w0;       // workspace row of tile row 0 in split 0
  int64_t g0;       // global output row of tile row 0
};

__device__ __forceinline__ float4 load_partial(const DecodeParams& p, int64_t wrow, int32_t col) {
  return __ldcg(reinterpret_cast<const float4*>(p.partial_out + wrow * MLA_DIM_V + col));
}

// Four columns of a lane, each scaled by inv, as BF16 (round to nearest even).
__device__ __forceinline__ void store_quad(const DecodeParams& p, int64_t grow, int32_t col, float4 v, float inv) {
  const __nv_bfloat162 a = __floats2bfloat162_rn(v.x * inv, v.y * inv);
  const __nv_bfloat162 b = __floats2bfloat162_rn(v.z * inv, v.w * inv);
  *reinterpret_cast<uint2*>(p.out + grow * MLA_DIM_V + col) =
      make_uint2(*reinterpret_cast<const uint32_t*>(&a), *reinterpret_cast<const uint32_t*>(&b));
}

// LSE and partial columns of row r for splits s0, s0 + kStep, ... (kN of
// them, those below n), all issued before any is used.
template <int kN, int kStep>
__device__ __forceinline__ void load_splits(const DecodeParams& p, const TileMerge& t, int32_t r, int32_t col,
                                            int32_t s0, float (&l)[kN], float4 (&x)[kN]) {
#pragma unroll
  for (int j = 0; j < kN; ++j) {
    const int32_t s = s0 + j * kStep;
    if (s < t.n) {
      const int64_t w = t.w0 + r + s * t.stride;
      l[j] = __ldcg(p.partial_lse + w);
      x[j] = load_partial(p, w, col);
    }
  }
}

// A row whose splits are all empty (0, LSE -inf) or one of them NaN (NaN, NaN).
__device__ __forceinline__ void store_degenerate(const DecodeParams& p, int64_t grow, int32_t col, bool nan_seen,
                                                 bool write_lse) {
  const float f = nan_seen ? NAN : 0.f;
  store_quad(p, grow, col, make_float4(f, f, f, f), 1.f);
  if (write_lse) p.lse[grow] = nan_seen ? NAN : -INFINITY;
}

// Up to kG slices (e0, e0 + step, ... ; `count` of them) of n <= kFusedSlots / kG
// splits, one warp, the one-sum order. Every lane loads every LSE it needs
// (broadcast loads), so max and weights need no shuffles.
template <int kG>
__device__ __forceinline__ void merge_slices_narrow(const DecodeParams& p, const TileMerge t, int32_t e0,
                                                    int32_t step, int32_t count) {
  constexpr int kS = kFusedSlots / kG;
  const int32_t lane = int32_t(threadIdx.x & 31);
  float l[kG][kS];
  float4 x[kG][kS];
#pragma unroll
  for (int g = 0; g < kG; ++g) {
    const int32_t e = e0 + g * step, r = e >> 2, col = (e & 3) * 128 + lane * 4;
#pragma unroll
    for (int j = 0; j < kS; ++j)
      if (g < count && j < t.n) {
        const int64_t w = t.w0 + r + j * t.stride;
        l[g][j] = __ldcg(p.partial_lse + w);
        x[g][j] = load_partial(p, w, col);
      }
  }
#pragma unroll
  for (int g = 0; g < kG; ++g) {
    if (g >= count) break;
    const int32_t e = e0 + g * step, r = e >> 2, col = (e & 3) * 128 + lane * 4;
    const bool lse_writer = (e & 3) == 0 && lane == 0;
    bool nan_seen = false;
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < kS; ++j)
      if (j < t.n) {
        nan_seen |= isnan(l[g][j]);
        mx = fmaxf(mx, l[g][j]);
      }
    if (nan_seen || mx == -INFINITY) {
      store_degenerate(p, t.g0 + r, col, nan_seen, lse_writer);
      continue;
    }
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    float wsum = 0.f;
#pragma unroll
    for (int j = 0; j < kS; ++j)
      if (j < t.n) {
        const float w = expf(l[g][j] - mx);  // 0 for an empty split (-inf)
        wsum += w;
        v.x += w * x[g][j].x;
        v.y += w * x[g][j].y;
        v.z += w * x[g][j].z;
        v.w += w * x[g][j].w;
      }
    store_quad(p, t.g0 + r, col, v, 1.f / wsum);
    if (lse_writer) p.lse[t.g0 + r] = mx + logf(wsum);
  }
}

// One slice of n >= kCombineWideSplits splits, one warp, the 8-sum order:
// batches of kFusedSlots splits (the first issued before the LSE max).
__device__ __forceinline__ void merge_slice_wide_warp(const DecodeParams& p, const TileMerge t, int32_t e) {
  const int32_t lane = int32_t(threadIdx.x & 31), r = e >> 2, col = (e & 3) * 128 + lane * 4;
  const bool lse_writer = (e & 3) == 0 && lane == 0;
  float l[kFusedSlots];
  float4 x[kFusedSlots];
  load_splits<kFusedSlots, 1>(p, t, r, col, 0, l, x);
  bool nan_seen;
  const float mx = max_partial_lse(p.partial_lse, t.w0 + r, t.stride, t.n, &nan_seen);
  if (nan_seen || mx == -INFINITY) {
    store_degenerate(p, t.g0 + r, col, nan_seen, lse_writer);
    return;
  }
  float4 acc[kCombineWarps];
  float ws[kCombineWarps];
#pragma unroll
  for (int k = 0; k < kCombineWarps; ++k) {
    acc[k] = make_float4(0.f, 0.f, 0.f, 0.f);
    ws[k] = 0.f;
  }
  static_assert(kFusedSlots % kCombineWarps == 0, "split s of a batch goes to sum s mod 8 by a static index");
  for (int32_t s0 = 0; s0 < t.n; s0 += kFusedSlots) {
    if (s0 > 0) load_splits<kFusedSlots, 1>(p, t, r, col, s0, l, x);
#pragma unroll
    for (int j = 0; j < kFusedSlots; ++j)
      if (s0 + j < t.n) {
        const int k = j % kCombineWarps;
        const float w = expf(l[j] - mx);
        ws[k] += w;
        acc[k].x += w * x[j].x;
        acc[k].y += w * x[j].y;
        acc[k].z += w * x[j].z;
        acc[k].w += w * x[j].w;
      }
  }
  float4 a = make_float4(0.f, 0.f, 0.f, 0.f);
  float W = 0.f;
#pragma unroll
  for (int k = 0; k < kCombineWarps; ++k) {
    a.x += acc[k].x;
    a.y += acc[k].y;
    a.z += acc[k].z;
    a.w += acc[k].w;
    W += ws[k];
  }
  store_quad(p, t.g0 + r, col, a, 1.f / W);
  if (lse_writer) p.lse[t.g0 + r] = mx + logf(W);
}

// One slice of n >= kCombineWideSplits splits by the whole group, the 8-sum
// order: warp w takes splits w, w + 8, ... (all in one round up to n =
// 8 x kFusedCtaBatch, issued before the LSE max), then the warps' sums meet
// in shared memory as in combine_row_part_wide.
template <class Sync>
__device__ __forceinline__ void merge_slice_cta(const DecodeParams& p, const TileMerge t, int32_t e, uint32_t tid,
                                                Sync sync, WideScratch* wsc) {
  const int32_t lane = int32_t(tid & 31), warp = int32_t(tid >> 5), r = e >> 2, part = e & 3;
  const int32_t col = part * kCombinePartCols + lane * 4;
  float l[kFusedCtaBatch];
  float4 x[kFusedCtaBatch];
  load_splits<kFusedCtaBatch, kCombineWarps>(p, t, r, col, warp, l, x);
  bool nan_seen;
  const float mx = max_partial_lse(p.partial_lse, t.w0 + r, t.stride, t.n, &nan_seen);
  if (nan_seen || mx == -INFINITY) {  // every warp sees alike: no barrier is skipped by some only
    if (warp == 0) store_degenerate(p, t.g0 + r, col, nan_seen, part == 0 && lane == 0);
    return;
  }
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  float wsum = 0.f;
  for (int32_t s0 = warp; s0 < t.n; s0 += kCombineWarps * kFusedCtaBatch) {
    if (s0 != warp) load_splits<kFusedCtaBatch, kCombineWarps>(p, t, r, col, s0, l, x);
#pragma unroll
    for (int j = 0; j < kFusedCtaBatch; ++j)
      if (s0 + j * kCombineWarps < t.n) {
        const float w = expf(l[j] - mx);
        wsum += w;
        acc.x += w * x[j].x;
        acc.y += w * x[j].y;
        acc.z += w * x[j].z;
        acc.w += w * x[j].w;
      }
  }
  wsc->acc[warp][lane] = acc;
  if (lane == 0) wsc->wsum[warp] = wsum;
  sync();
  if (tid < kCombinePartCols / 2) {
    const int c = int(tid) * 2;  // two columns of the part, summed in warp order
    const float* a = reinterpret_cast<const float*>(wsc->acc);
    float a0 = 0.f, a1 = 0.f, W = 0.f;
#pragma unroll
    for (int w = 0; w < kCombineWarps; ++w) {
      a0 += a[w * kCombinePartCols + c];
      a1 += a[w * kCombinePartCols + c + 1];
      W += wsc->wsum[w];
    }
    const float inv = 1.f / W;
    const __nv_bfloat162 h = __floats2bfloat162_rn(a0 * inv, a1 * inv);
    *reinterpret_cast<__nv_bfloat162*>(p.out + (t.g0 + r) * MLA_DIM_V + part * kCombinePartCols + c) = h;
    if (part == 0 && tid == 0) p.lse[t.g0 + r] = mx + logf(W);
  }
  sync();  // the scratch is free for the next slice
}

// The share of CTA `s` (split s of n) in the merge of a tile of `rows` rows:
// slices e = 0 .. 4 rows - 1 dealt to the 8 n warps (warp slices) or to the
// n CTAs (CTA slices, when a warp would need many rounds of loads: few rows
// and many splits, e.g. one long request). The deal changes who computes a
// slice, never what it computes.
template <class Sync>
__device__ __forceinline__ void merge_tile_share(const DecodeParams& p, const TileMerge& t, int32_t s, int32_t rows,
                                                 uint32_t tid, Sync sync, WideScratch* wsc) {
  const int32_t slices = rows * kCombineColParts, n = t.n, warp = int32_t(tid >> 5);
  const int32_t warps = kCombineWarps * n, first = s * kCombineWarps + warp;
  if (n < kCombineWideSplits) {
    // Slices of this warp: first, first + warps, ...; kG of them a round.
    const int32_t mine = first < slices ? (slices - first + warps - 1) / warps : 0;
    const int32_t kg = n <= 2 ? 4 : (n <= 4 ? 2 : 1);
    for (int32_t i = 0; i < mine; i += kg) {
      const int32_t e0 = first + i * warps, count = min(kg, mine - i);
      if (kg == 4) merge_slices_narrow<4>(p, t, e0, warps, count);
      else if (kg == 2) merge_slices_narrow<2>(p, t, e0, warps, count);
      else merge_slices_narrow<1>(p, t, e0, warps, count);
    }
    return;
  }
  const int32_t warp_rounds = ((slices + warps - 1) / warps) * ((n + kFusedSlots - 1) / kFusedSlots);
  const int32_t cta_rounds =
      ((slices + n - 1) / n) * ((n + kCombineWarps * kFusedCtaBatch - 1) / (kCombineWarps * kFusedCtaBatch)) + 1;
  if (cta_rounds < warp_rounds) {
    for (int32_t e = s; e < slices; e += n) merge_slice_cta(p, t, e, tid, sync, wsc);
  } else {
    for (int32_t e = first; e < slices; e += warps) merge_slice_wide_warp(p, t, e);
  }
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
    TileMerge t;
    t.n = n;
    t.stride = int64_t(rq.q_len) * p.num_heads;
    t.w0 = int64_t(rq.partial_row) + int64_t(m_tile) * kBlockM;
    t.g0 = int64_t(rq.q_begin) * p.num_heads + int64_t(m_tile) * kBlockM;
    merge_tile_share(p, t, it.split, rows, tid, sync, ws);
    if (tid == 0 && atomicAdd(counter, 1) == 2 * n - 1) atomicExch(counter, 0);  // the last to leave resets
  }
}

}  // namespace mla::cuda_impl
