// combine.cuh - merging the split-K partial results of one query row (one
// warp, 16 columns per lane), and writing the row of a flagged request.
// Kept apart from the kernel so a fused epilogue could reuse it.
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

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

// Merges n >= 1 partial rows (the automatic split may cut a long request into
// as many pieces as there are parts): partial s of the row is at row
// `row0 + s * stride` of partial_out / partial_lse. out = sum_s w_s o_s /
// sum_s w_s with w_s = exp(lse_s - max lse), lse = max + log(sum w). All
// splits empty (-inf): 0 and -inf. A NaN lse in any split makes the row NaN
// (output and lse), as in the reference (fmaxf alone would drop it). Every
// lane sums the weights itself in the same order (s ascending), so the result
// is deterministic.
__device__ __forceinline__ void combine_row(const float* partial_out, const float* partial_lse, int64_t row0,
                                            int64_t stride, int32_t n, uint16_t* out_row, float* lse_out) {
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
  nan_seen = __any_sync(kAll, nan_seen);
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

// The row of a flagged request: output 0, LSE NaN.
__device__ __forceinline__ void fault_row(uint16_t* out_row, float* lse_out) {
  const int lane = threadIdx.x & 31;
  reinterpret_cast<uint4*>(out_row)[2 * lane] = make_uint4(0, 0, 0, 0);
  reinterpret_cast<uint4*>(out_row)[2 * lane + 1] = make_uint4(0, 0, 0, 0);
  if (lane == 0) *lse_out = NAN;
}

}  // namespace mla::cuda_impl
