// sm90_fp8_tile.cuh - turning the 64 x 512 E4M3 content of an FP8 KV tile
// into BF16 in shared memory, once per tile, for the BF16 tensor cores
// (P.V for both pairs, and Q.K for a BF16 Q). Run by the helper warpgroup.
//
// Conversion without a branch and exact for every finite code. Placing the
// code's sign at bit 15 and its 7 magnitude bits (eeee mmm) at bits 4..10 of
// a 16-bit lane gives a BF16 whose exponent field is eeee and mantissa mmm,
// i.e. the E4M3 value times 2^(7 - 127); one BF16 multiply by 2^120 restores
// it. Zero stays zero, and the subnormals (e = 0) are BF16 subnormals of the
// same bit pattern, which the multiply scales exactly (BF16 arithmetic has no
// flush-to-zero). Per pair of codes: a byte permute, a shift, an and, an
// integer multiply-add and one bf16x2 multiply. The only code this gets
// "wrong" is NaN (0x7F / 0xFF become +-480); the BF16-Q path flags such keys
// separately (nan_bytes below) so their logits still become NaN.
#pragma once

#include <cstdint>

#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"

namespace mla::cuda_impl::sm90 {

__device__ __forceinline__ uint32_t bf16x2_mul(uint32_t a, uint32_t b) {
  uint32_t d;
  asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
  return d;
}

// Two E4M3 codes of `w`, picked by the byte-permute selector (0x1404: bytes
// 0, 1; 0x3424: bytes 2, 3), as a BF16 pair (first code in the low half).
template <uint32_t kSelector>
__device__ __forceinline__ uint32_t e4m3x2_to_bf16x2(uint32_t w) {
  uint32_t hi;  // each code in the high byte of its 16-bit lane: sign at bit 15, magnitude at 8..14
  asm("prmt.b32 %0, %1, 0, %2;" : "=r"(hi) : "r"(w), "n"(kSelector));
  const uint32_t d = hi >> 4;                          // magnitude at 4..10, sign at 11
  const uint32_t bits = d + (d & 0x08000800u) * 15u;   // sign from bit 11 to bit 15 (adds 15 * 2^11)
  return bf16x2_mul(bits, 0x7B807B80u);                // x 2^120 (BF16 0x7B80) in both lanes
}

// Bit 7 of each byte set where that byte is an E4M3 NaN (magnitude 0x7F).
__device__ __forceinline__ uint32_t nan_bytes(uint32_t w) { return ((w & 0x7F7F7F7Fu) + 0x01010101u) & 0x80808080u; }

// The key row thread `tid` of the warpgroup converts: (lane & 7) + 8 (lane
// >> 4) + 16 warp, one half of its content per lane (lane bit 3). The 8 lanes
// of each quarter-warp then touch 8 different rows of one column chunk: 8
// distinct 16-byte bank groups under the swizzle, for both the 16-byte loads
// and the 16-byte stores.
__device__ __forceinline__ uint32_t conversion_row(uint32_t tid) {
  const uint32_t lane = tid & 31, warp = tid >> 5;
  return (lane & 7) + 8 * (lane >> 4) + 16 * warp;
}

// Converts the content of the FP8 tile at `src` (blocks 0-3) into the BF16
// tile at `dst` (8 blocks of [64 keys][128 B], the layout of the BF16
// kernel's K tile, so the same descriptors read it). With kFlagNaN, returns
// whether the thread's key row holds a NaN code (both halves combined; valid
// in every lane, the row being conversion_row(tid)).

template <bool kFlagNaN>
__device__ __forceinline__ bool convert_content_tile(uint32_t src, uint32_t dst, uint32_t tid) {
  const uint32_t row = conversion_row(tid);
  const uint32_t half = (tid >> 3) & 1;
  uint32_t nan_acc = 0;
#pragma unroll
  for (uint32_t g = 0; g < 4; ++g) {
    uint32_t w[4][4];
    // Four 16-byte loads in flight before the first use.
#pragma unroll
    for (uint32_t i = 0; i < 4; ++i) {
      const uint32_t c = 16 * half + 4 * g + i;  // FP8 chunk: content columns 16c .. 16c + 15
      asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
                   : "=r"(w[i][0]), "=r"(w[i][1]), "=r"(w[i][2]), "=r"(w[i][3])
                   : "r"(src + swizzled_chunk_offset(row, c)));
    }
#pragma unroll
    for (uint32_t i = 0; i < 4; ++i) {
      const uint32_t c = 16 * half + 4 * g + i;
      uint32_t o[8];
#pragma unroll
      for (uint32_t k = 0; k < 4; ++k) {
        o[2 * k] = e4m3x2_to_bf16x2<0x1404u>(w[i][k]);
        o[2 * k + 1] = e4m3x2_to_bf16x2<0x3424u>(w[i][k]);
        if constexpr (kFlagNaN) nan_acc |= nan_bytes(w[i][k]);
      }
      // 16 BF16 values = BF16 chunks 2c and 2c + 1 of the row.
      asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(dst + swizzled_chunk_offset(row, 2 * c)),
                   "r"(o[0]), "r"(o[1]), "r"(o[2]), "r"(o[3])
                   : "memory");
      asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(dst + swizzled_chunk_offset(row, 2 * c + 1)),
                   "r"(o[4]), "r"(o[5]), "r"(o[6]), "r"(o[7])
                   : "memory");
    }
  }
  if constexpr (kFlagNaN) {
    nan_acc |= __shfl_xor_sync(0xffffffffu, nan_acc, 8);  // the other half of the same row
    return nan_acc != 0;
  }
  return false;
}

}  // namespace mla::cuda_impl::sm90
