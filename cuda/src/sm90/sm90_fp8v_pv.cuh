// sm90_fp8v_pv.cuh - a consumer warpgroup's share of O^T = V^T.P'^T in the
// register-V fp8-KV kernel (sm90_fp8v_config.cuh): kN m-tiles of 64 value
// dims from m-tile i0, N = the tile's 64 query rows.
//
// Accumulator layout (wgmma m64n64, A = V^T fragments of sm90_fp8_frags.cuh):
// element 4j + 2h + e of m-tile i is value dim 64 (i0 + i) + 16 w + 2 g + h,
// query row 8j + 2t + e (warp w, lane l, g = l / 4, t = l % 4): a thread
// holds 16 query rows and, per m-tile, two adjacent value dims of each.
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8_frags.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"
#include "sm90_wgmma_ops.cuh"

namespace mla::cuda_impl::sm90 {

// The two k-steps of V^T fragments in R (fp8r_vt_load) as FP16 values: a
// byte permute puts keys 2t, 2t + 1 of one dim side by side, cvt converts
// exactly, and max(x, -448) turns the NaN of a NaN code into -448 (max
// returns its non-NaN operand; every finite E4M3 value is >= -448).
__device__ __forceinline__ void fp8v_vt_convert(const uint32_t (&R)[4], uint32_t (&a)[2][4]) {
#pragma unroll
  for (uint32_t s = 0; s < 2; ++s)
#pragma unroll
    for (uint32_t h = 0; h < 2; ++h) {
      uint32_t x, lo, hi;  // bytes 0, 2, 1, 3: (key 2t, key 2t + 1) of dim 2g, then of dim 2g + 1
      asm("prmt.b32 %0, %1, 0, 0x3120;" : "=r"(x) : "r"(R[2 * s + h]));
      e4m3x4_to_f16x2x2(x, lo, hi);
      asm("max.f16x2 %0, %1, %2;" : "=r"(a[s][2 * h]) : "r"(lo), "r"(0xDF00DF00u));
      asm("max.f16x2 %0, %1, %2;" : "=r"(a[s][2 * h + 1]) : "r"(hi), "r"(0xDF00DF00u));
    }
}

// O^T *= the rescale factor of each query row (64 floats at `scale`, shared
// memory, written before PReady). Most tiles after the first few move no
// row's max or R (the factor is then exactly 1, softmax_tile_scaled_by):
// a warp whose 16 factors are all 1 skips the 32 kN multiplications (WG 2's
// 6 m-tiles: 192 FMUL a tile, 31% of its instructions, on the schedulers
// that WG 1's serial chain shares).
template <uint32_t kN>
__device__ __forceinline__ void fp8v_rescale(float (&o)[kN][32], uint32_t scale, uint32_t lane) {
  const uint32_t t = lane & 3;
  float a[8][2];  // query rows 8j + 2t, + 1
  bool one = true;
#pragma unroll
  for (uint32_t j = 0; j < 8; ++j) {
    asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];"
                 : "=f"(a[j][0]), "=f"(a[j][1])
                 : "r"(scale + 4u * (8u * j + 2u * t)));
    one = one && a[j][0] == 1.f && a[j][1] == 1.f;
  }
  if (__all_sync(0xffffffffu, one)) return;
#pragma unroll
  for (uint32_t j = 0; j < 8; ++j)
#pragma unroll
    for (uint32_t i = 0; i < kN; ++i) {
      o[i][4 * j + 0] *= a[j][0];
      o[i][4 * j + 1] *= a[j][1];
      o[i][4 * j + 2] *= a[j][0];
      o[i][4 * j + 3] *= a[j][1];
    }
}

// O^T += V^T.P'^T for m-tiles i0 .. i0 + kN - 1 of the FP8 tile at `tile`:
// per m-tile 4 k-steps, kBufs fragment buffers (2: m-tile i converts while
// m-tile i - 1 multiplies; 1: it waits for it, 16 registers fewer: WG 2's
// five m-tiles at 216 registers made ptxas serialize every wgmma, C7512),
// the next m-tile's codes loaded one ahead. Every thread arrives on `empty`
// (the stage) once its last fragment is in registers. Returns with its
// wgmma finished.
template <uint32_t kN, uint32_t kBufs>
__device__ __forceinline__ void fp8v_pv(float (&o)[kN][32], uint32_t tile, uint32_t warp, uint32_t lane, uint32_t i0,
                                        uint64_t p_desc, uint32_t empty) {
  static_assert(kBufs == 1 || kBufs == 2, "one or two fragment buffers");
  uint32_t va[kBufs][4][4];
  uint32_t raw[2][4];
#pragma unroll
  for (uint32_t kp = 0; kp < 2; ++kp) fp8r_vt_load(tile, warp, lane, i0, kp, raw[kp]);
#pragma unroll
  for (uint32_t i = 0; i < kN; ++i) {
    const uint32_t buf = i % kBufs;
    if (i >= kBufs) {
      wgmma_wait<kBufs - 1>();  // m-tile i - kBufs (same buffer) finished
      pin_frags(va[buf]);
    }
#pragma unroll
    for (uint32_t kp = 0; kp < 2; ++kp) {
      uint32_t two[2][4];
      fp8v_vt_convert(raw[kp], two);
#pragma unroll
      for (uint32_t x = 0; x < 4; ++x) {
        va[buf][2 * kp][x] = two[0][x];
        va[buf][2 * kp + 1][x] = two[1][x];
      }
    }
    if (i + 1 < kN) {
#pragma unroll
      for (uint32_t kp = 0; kp < 2; ++kp) fp8r_vt_load(tile, warp, lane, i0 + i + 1, kp, raw[kp]);
    } else {
      mbar_arrive(empty);  // the stage's last read is in registers
    }
    wgmma_fence();
#pragma unroll
    for (uint32_t kk = 0; kk < 4; ++kk) wgmma_m64n64k16_f16_rs(o[i], va[buf][kk], desc_advance(p_desc, kk * 32), 1u);
    wgmma_commit();
  }
  wgmma_wait<0>();
#pragma unroll
  for (uint32_t b = 0; b < kBufs; ++b) pin_frags(va[b]);
#pragma unroll
  for (uint32_t i = 0; i < kN; ++i) pin_regs(o[i]);
}

// Writes the share: O^T times 1 / sum of each query row (64 floats at
// `inv_sum`, shared memory, written before ItemEnd), BF16 pairs of adjacent
// value dims into out for a whole-request item, fp32 pairs into the split-K
// workspace otherwise. Rows past v.rows are padding and are not written.
template <uint32_t kN>
__device__ __forceinline__ void fp8v_store_output(const DecodeParams& p, const ItemView& v, uint32_t warp,
                                                  uint32_t lane, uint32_t i0, const float (&o)[kN][32],
                                                  uint32_t inv_sum) {
  const uint32_t t = lane & 3, g = lane >> 2;
#pragma unroll
  for (uint32_t j = 0; j < 8; ++j)
#pragma unroll
    for (uint32_t e = 0; e < 2; ++e) {
      const int32_t r = int32_t(8 * j + 2 * t + e);
      if (r >= v.rows) continue;
      float inv;
      asm volatile("ld.shared.f32 %0, [%1];" : "=f"(inv) : "r"(inv_sum + 4u * uint32_t(r)));
#pragma unroll
      for (uint32_t i = 0; i < kN; ++i) {
        const uint32_t dim = 64 * (i0 + i) + 16 * warp + 2 * g;
        const float x0 = o[i][4 * j + e] * inv, x1 = o[i][4 * j + 2 + e] * inv;
        if (v.partial_row < 0) {
          uint16_t* dst = p.out + (v.q_row0 + r) * int64_t(MLA_DIM_V) + dim;
          *reinterpret_cast<uint32_t*>(dst) = pack_bf16x2(x0, x1);
        } else {
          float* dst = p.partial_out + (int64_t(v.partial_row) + v.row0 + r) * int64_t(MLA_DIM_V) + dim;
          *reinterpret_cast<float2*>(dst) = make_float2(x0, x1);
        }
      }
    }
}

}  // namespace mla::cuda_impl::sm90
