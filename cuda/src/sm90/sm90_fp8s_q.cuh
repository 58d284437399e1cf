// sm90_fp8s_q.cuh - the compact Q of the small-H fp8-KV kernel
// (sm90_fp8r_*.cuh): its 16 rows converted to FP16 in place, once per
// request, and the scalar conversions of its epilogue.
#pragma once

#include <cstdint>

#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8_tile.cuh"
#include "sm90_fp8r_config.cuh"
#include "sm90_fp8s_config.cuh"
#include "sm90_sync.cuh"

namespace mla::cuda_impl::sm90 {

// The compact Q (16 rows) in place to FP16, thread `tid` of the warpgroup:
// row tid / 8 (warp w holds rows 4w..4w+3, so a row's bytes stay in one warp
// and a __syncwarp orders its reads before its writes), part tid % 8, which
// takes chunks part + 8i of the row (8 lanes = 8 chunks of one row per
// quarter-warp: conflict-free loads). Writes the row's e (S = 2^e x what
// the MMAs sum; kQExpNaN for an fp8 row with a NaN code) to q_exp[row]
// (int32). Follow with fence_proxy_async and a barrier of the warpgroups
// that read it (QReady) before wgmma or other warps read the result.
// Within every 16 content dims, FP16 chunk 2c holds dims {0, 1, 4, 5, 8, 9,
// 12, 13} and chunk 2c + 1 dims {2, 3, 6, 7, 10, 11, 14, 15}: the order in
// which ldmatrix hands a thread the FP8 bytes of a key (fp8r_k_load).
// The kernel's K content is the E4M3 value itself (cvt), so S = 2^e x the
// sum with e = 8 for an fp8 Q (its content is code x 2^-8) and e = eq for a
// bf16 one, and the BF16 rope is scaled by 2^-e to add into the same sum.
// With kFp8rQgmma an fp8 Q stays as loaded (FP8 content at kQcFp8Off, the
// QGMMA B operand; BF16 rope at block 8) and e = 0: nothing to convert (a NaN
// code makes the QGMMA's sums NaN itself).
template <bool kQFp8>
__device__ __forceinline__ void convert_q_compact(uint32_t q, uint32_t q_exp, uint32_t tid) {
  const uint32_t row = tid >> 3, part = tid & 7;
  int32_t e;
  if constexpr (kQFp8 && kFp8rQgmma) {
    (void)q;
    (void)part;
    e = 0;
  } else if constexpr (kQFp8) {
    // FP8 content chunk c (16 codes) of the row at kQcFp8Off, FP16 chunks 2c,
    // 2c + 1 at 0: FP16 blocks 4-7 overwrite FP8 blocks 0-3 of the same rows.
    uint32_t w[4][4], nan = 0;
#pragma unroll
    for (uint32_t i = 0; i < 4; ++i) load_chunk(q + kQcFp8Off + qc_chunk_offset(row, part + 8 * i), w[i]);
    __syncwarp();
#pragma unroll
    for (uint32_t i = 0; i < 4; ++i) {
      const uint32_t c = part + 8 * i;
      uint32_t o[8];
#pragma unroll
      for (uint32_t k = 0; k < 4; ++k) {
        o[2 * k] = e4m3x2_to_f16x2<0x1404u>(w[i][k]);
        o[2 * k + 1] = e4m3x2_to_f16x2<0x3424u>(w[i][k]);
        nan |= nan_bytes(w[i][k]);
      }
      {  // word j of o: dims 2j, 2j + 1 of the 16
        const uint32_t o1 = o[1], o3 = o[3], o5 = o[5];
        o[1] = o[2], o[2] = o[4], o[3] = o[6];
        o[4] = o1, o[5] = o3, o[6] = o5;  // o[7] stays
      }
      asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(q + qc_chunk_offset(row, 2 * c)), "r"(o[0]),
                   "r"(o[1]), "r"(o[2]), "r"(o[3])
                   : "memory");
      asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(q + qc_chunk_offset(row, 2 * c + 1)),
                   "r"(o[4]), "r"(o[5]), "r"(o[6]), "r"(o[7])
                   : "memory");
    }
    nan |= __shfl_xor_sync(0xffffffffu, nan, 1);
    nan |= __shfl_xor_sync(0xffffffffu, nan, 2);
    nan |= __shfl_xor_sync(0xffffffffu, nan, 4);
    e = 8;  // content code x 2^-8 against Q = code x sigma_q
    scale_bf16_chunk(q + qc_chunk_offset(row, 64 + part), __int_as_float((127 - e) << 23));  // rope: 2^-e
    if (nan != 0) e = kQExpNaN;
  } else {
    uint32_t mx = 0;  // largest finite |BF16| bit pattern of the row
#pragma unroll
    for (uint32_t i = 0; i < 8; ++i) {
      uint32_t w[4];
      load_chunk(q + qc_chunk_offset(row, part + 8 * i), w);
      mx = max_finite_bf16(mx, w);
    }
    mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, 4));
    const int32_t eq = bf16_row_exponent(mx);
    const float f = __int_as_float((127 - eq) << 23);  // 2^-eq
#pragma unroll
    for (uint32_t i = 0; i < 8; ++i) {
      const uint32_t addr = q + qc_chunk_offset(row, part + 8 * i);
      uint32_t w[4];
      load_chunk(addr, w);
      bf16_chunk_to_f16(w, f);
      {
        // Chunks 2c (even part: dims 0-7 of the 16) and 2c + 1 (the partner
        // lane, part ^ 1: dims 8-15): even keeps words 0, 2 and takes the
        // partner's 0, 2; odd takes the partner's 1, 3 and keeps its 1, 3.
        const bool even = (part & 1) == 0;
        const uint32_t give0 = even ? w[1] : w[0], give1 = even ? w[3] : w[2];
        const uint32_t got0 = __shfl_xor_sync(0xffffffffu, give0, 1);
        const uint32_t got1 = __shfl_xor_sync(0xffffffffu, give1, 1);
        if (even) {
          w[1] = w[2], w[2] = got0, w[3] = got1;
        } else {
          w[0] = got0, w[2] = w[1], w[1] = got1;  // w[3] stays
        }
      }
      asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "r"(w[0]), "r"(w[1]), "r"(w[2]),
                   "r"(w[3])
                   : "memory");
    }
    e = eq;
    scale_bf16_chunk(q + qc_chunk_offset(row, 64 + part), __int_as_float((127 - e) << 23));  // rope: 2^-e
  }
  if (part == 0) asm volatile("st.shared.s32 [%0], %1;" ::"r"(q_exp + 4 * row), "r"(e) : "memory");
  fence_proxy_async();  // the FP16 Q is read by wgmma (async proxy), after QReady
}

// One BF16 value, round to nearest even.
__device__ __forceinline__ uint16_t to_bf16_bits(float x) {
  uint16_t h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(x));
  return h;
}
__device__ __forceinline__ uint16_t to_f16_bits(float x) {
  uint16_t h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
  return h;
}

__device__ __forceinline__ float fast_log2(float x) {
  float y;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}


}  // namespace mla::cuda_impl::sm90
