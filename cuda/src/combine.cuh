// combine.cuh - merging the split-K partial results of one query row, and
// writing the row of a flagged request. Kept apart from the kernels so a
// fused epilogue could reuse them.
//   combine_row:            one warp, 512 columns (16 per lane), few splits (< kCombineWideSplits)
//   combine_row_part_wide:  a whole CTA, 128 columns of the row, any number of splits
//   combine_row_batched:    one warp, any number of splits (the legacy kernel's)
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "config.h"
#include "mla/constants.h"

namespace mla::cuda_impl {

constexpr int kCombineColsPerLane = MLA_DIM_V / 32;  // 16

__device__ __forceinline__ void store_bf16x16(uint16_t* dst, const float (&v)[kCombineColsPerLane]) {
  uint4 w[2];
  uint32_t* u = reinterpret_cast<uint32_t*>(w);
#pragma unroll
  for (int i = 0; i < kCombineColsPerLane / 2; ++i) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
    u[i] = *reinterpret_cast<const uint32_t*>(&h);
  }
  reinterpret_cast<uint4*>(dst)[0] = w[0];
  reinterpret_cast<uint4*>(dst)[1] = w[1];
}

// The largest LSE of a row's n partials (every lane of the warp gets it) and
// whether any is NaN; lanes read every 32nd split.
__device__ __forceinline__ float max_partial_lse(const float* partial_lse, int64_t row0, int64_t stride, int32_t n,
                                                 bool* nan_any) {
  const int lane = threadIdx.x & 31;
  constexpr unsigned kAll = 0xffffffffu;
  float mx = -INFINITY;
  bool nan_seen = false;
  for (int32_t s = lane; s < n; s += 32) {
    const float l = partial_lse[row0 + s * stride];
    nan_seen |= isnan(l);
    mx = fmaxf(mx, l);
  }
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) mx = fmaxf(mx, __shfl_xor_sync(kAll, mx, d));
  *nan_any = __any_sync(kAll, nan_seen);
  return mx;
}

// The legacy kernel's merge (kept as it was measured). Merges n >= 1 partial rows (the automatic split may cut a long request into
// as many pieces as there are parts): partial s of the row is at row
// `row0 + s * stride` of partial_out / partial_lse. out = sum_s w_s o_s /
// sum_s w_s with w_s = exp(lse_s - max lse), lse = max + log(sum w). All
// splits empty (-inf): 0 and -inf. A NaN lse in any split makes the row NaN
// (output and lse), as in the reference (fmaxf alone would drop it). Every
// lane sums the weights itself in the same order (s ascending), so the result
// is deterministic.
__device__ __forceinline__ void combine_row_batched(const float* partial_out, const float* partial_lse, int64_t row0,
                                                    int64_t stride, int32_t n, uint16_t* out_row, float* lse_out) {
  const int lane = threadIdx.x & 31;
  bool nan_seen;
  const float mx = max_partial_lse(partial_lse, row0, stride, n, &nan_seen);
  float v[kCombineColsPerLane];
  if (nan_seen) {
#pragma unroll
    for (int i = 0; i < kCombineColsPerLane; ++i) v[i] = NAN;
    store_bf16x16(out_row + lane * kCombineColsPerLane, v);
    if (lane == 0) *lse_out = NAN;
    return;
  }
#pragma unroll
  for (int i = 0; i < kCombineColsPerLane; ++i) v[i] = 0.f;
  if (mx == -INFINITY) {
    store_bf16x16(out_row + lane * kCombineColsPerLane, v);
    if (lane == 0) *lse_out = -INFINITY;
    return;
  }
  // The loads of kBatch splits are issued before any of them is used, so a
  // row with many splits (one long request cut over every SM) waits for
  // memory n / kBatch times instead of n times. The arithmetic still runs in
  // ascending s, so the result does not depend on kBatch.
  constexpr int kBatch = 8;
  float wsum = 0.f;
  for (int32_t s0 = 0; s0 < n; s0 += kBatch) {
    float w[kBatch];
    float4 x[kBatch][4];
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      if (s0 + j < n) {
        const int64_t row = row0 + int64_t(s0 + j) * stride;
        w[j] = partial_lse[row];
        const float4* src = reinterpret_cast<const float4*>(partial_out + row * MLA_DIM_V) + lane * 4;
#pragma unroll
        for (int q = 0; q < 4; ++q) x[j][q] = src[q];
      }
    }
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      if (s0 + j < n) {
        const float wj = expf(w[j] - mx);  // 0 for an empty split (-inf)
        wsum += wj;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          v[4 * q + 0] += wj * x[j][q].x;
          v[4 * q + 1] += wj * x[j][q].y;
          v[4 * q + 2] += wj * x[j][q].z;
          v[4 * q + 3] += wj * x[j][q].w;
        }
      }
    }
  }
  const float inv = 1.f / wsum;
#pragma unroll
  for (int i = 0; i < kCombineColsPerLane; ++i) v[i] *= inv;
  store_bf16x16(out_row + lane * kCombineColsPerLane, v);
  if (lane == 0) *lse_out = mx + logf(wsum);
}

// Merges 1 <= n < kCombineWideSplits partial rows in one warp: the same
// result as combine_row_batched (weights and sums in ascending s), with one
// split's loads in flight at a time, few registers (the default kernel runs
// 3 CTAs of 256 threads a SM; the batched merge needs ~220 registers a
// thread and so ran one CTA a SM, which cost B=128 H=128 about 20 us).
__device__ __forceinline__ void combine_row(const float* partial_out, const float* partial_lse, int64_t row0,
                                            int64_t stride, int32_t n, uint16_t* out_row, float* lse_out) {
  static_assert(kCombineWideSplits <= 33, "a lane holds the LSE of one split");
  const int lane = threadIdx.x & 31;
  constexpr unsigned kAll = 0xffffffffu;
  const float l = lane < n ? partial_lse[row0 + lane * stride] : -INFINITY;
  const bool nan_seen = __any_sync(kAll, isnan(l));
  float mx = l;
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) mx = fmaxf(mx, __shfl_xor_sync(kAll, mx, d));
  float v[kCombineColsPerLane];
  if (nan_seen || mx == -INFINITY) {
    const float f = nan_seen ? NAN : 0.f;
#pragma unroll
    for (int i = 0; i < kCombineColsPerLane; ++i) v[i] = f;
    store_bf16x16(out_row + lane * kCombineColsPerLane, v);
    if (lane == 0) *lse_out = nan_seen ? NAN : -INFINITY;
    return;
  }
  const float w_lane = lane < n ? expf(l - mx) : 0.f;  // 0 for an empty split (-inf)
#pragma unroll
  for (int i = 0; i < kCombineColsPerLane; ++i) v[i] = 0.f;
  float wsum = 0.f;
#pragma unroll 2
  for (int32_t s = 0; s < n; ++s) {
    const float w = __shfl_sync(kAll, w_lane, s);
    wsum += w;
    const float4* src = reinterpret_cast<const float4*>(partial_out + (row0 + int64_t(s) * stride) * MLA_DIM_V) + lane * 4;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const float4 x = src[q];
      v[4 * q + 0] += w * x.x;
      v[4 * q + 1] += w * x.y;
      v[4 * q + 2] += w * x.z;
      v[4 * q + 3] += w * x.w;
    }
  }
  const float inv = 1.f / wsum;
#pragma unroll
  for (int i = 0; i < kCombineColsPerLane; ++i) v[i] *= inv;
  store_bf16x16(out_row + lane * kCombineColsPerLane, v);
  if (lane == 0) *lse_out = mx + logf(wsum);
}

constexpr int kCombinePartCols = MLA_DIM_V / kCombineColParts;  // 128: a float4 per lane
static_assert(kCombinePartCols == 32 * 4, "a wide unit's lane holds one float4 of the part");

struct WideScratch {
  float4 acc[kCombineWarps][32];
  float wsum[kCombineWarps];
};

// Columns [part * 128, part * 128 + 128) of one row merged by the whole CTA
// (kCombineWarps warps; every thread must call it: it has CTA barriers unless
// the row is NaN or empty, which every warp sees alike). Warp w sums splits
// w, w + 8, w + 16, ... in ascending order, kCombineWideBatch loads in
// flight; the 8 warp sums are then added in warp order. The order is fixed
// by n alone, so the result is deterministic (and differs from the one-warp
// order only by rounding). The row's LSE is written by the unit of part 0.
__device__ __forceinline__ void combine_row_part_wide(const float* partial_out, const float* partial_lse, int64_t row0,
                                                      int64_t stride, int32_t n, int32_t part, uint16_t* out_row,
                                                      float* lse_out, WideScratch* ws) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  bool nan_seen;
  const float mx = max_partial_lse(partial_lse, row0, stride, n, &nan_seen);
  const int col = part * kCombinePartCols + lane * 4;
  if (nan_seen || mx == -INFINITY) {
    if (warp == 0) {
      const float f = nan_seen ? NAN : 0.f;
      const __nv_bfloat162 h = __floats2bfloat162_rn(f, f);
      const uint32_t u = *reinterpret_cast<const uint32_t*>(&h);
      *reinterpret_cast<uint2*>(out_row + col) = make_uint2(u, u);
      if (part == 0 && lane == 0) *lse_out = nan_seen ? NAN : -INFINITY;
    }
    return;
  }
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  float wsum = 0.f;
  constexpr int kB = kCombineWideBatch;
  for (int32_t s0 = warp; s0 < n; s0 += kCombineWarps * kB) {
    float l[kB];
    float4 x[kB];
#pragma unroll
    for (int j = 0; j < kB; ++j) {
      const int32_t s = s0 + j * kCombineWarps;
      if (s < n) {
        const int64_t row = row0 + int64_t(s) * stride;
        l[j] = partial_lse[row];
        x[j] = *reinterpret_cast<const float4*>(partial_out + row * MLA_DIM_V + col);
      }
    }
#pragma unroll
    for (int j = 0; j < kB; ++j) {
      if (s0 + j * kCombineWarps < n) {
        const float w = expf(l[j] - mx);  // 0 for an empty split (-inf)
        wsum += w;
        acc.x += w * x[j].x;
        acc.y += w * x[j].y;
        acc.z += w * x[j].z;
        acc.w += w * x[j].w;
      }
    }
  }
  ws->acc[warp][lane] = acc;
  if (lane == 0) ws->wsum[warp] = wsum;
  __syncthreads();
  if (threadIdx.x < kCombinePartCols / 2) {
    const int c = threadIdx.x * 2;  // two columns of the part
    const float* a = reinterpret_cast<const float*>(ws->acc);
    float a0 = 0.f, a1 = 0.f, W = 0.f;
#pragma unroll
    for (int w = 0; w < kCombineWarps; ++w) {
      a0 += a[w * kCombinePartCols + c];
      a1 += a[w * kCombinePartCols + c + 1];
      W += ws->wsum[w];
    }
    const float inv = 1.f / W;
    const __nv_bfloat162 h = __floats2bfloat162_rn(a0 * inv, a1 * inv);
    *reinterpret_cast<__nv_bfloat162*>(out_row + part * kCombinePartCols + c) = h;
    if (part == 0 && threadIdx.x == 0) *lse_out = mx + logf(W);
  }
  __syncthreads();  // ws is free for the next unit
}

// The row of a flagged request: output 0, LSE NaN.
__device__ __forceinline__ void fault_row(uint16_t* out_row, float* lse_out) {
  const int lane = threadIdx.x & 31;
  reinterpret_cast<uint4*>(out_row)[2 * lane] = make_uint4(0, 0, 0, 0);
  reinterpret_cast<uint4*>(out_row)[2 * lane + 1] = make_uint4(0, 0, 0, 0);
  if (lane == 0) *lse_out = NAN;
}

}  // namespace mla::cuda_impl
