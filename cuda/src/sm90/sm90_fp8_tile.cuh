// sm90_fp8_tile.cuh - turning the 64 x 512 E4M3 content of an FP8 KV tile
// into BF16 in shared memory, once per tile, for the BF16 tensor cores
// (Q.K and P.V). Run by the helper warpgroup. Also the in-place conversion
// of an fp8_rope640 Q tile (the softmax warpgroup, once per request).
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
#include "sm90_sync.cuh"

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

// One 16-byte chunk of shared memory into registers.
__device__ __forceinline__ void load_chunk(uint32_t addr, uint32_t (&w)[4]) {
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(w[0]), "=r"(w[1]), "=r"(w[2]), "=r"(w[3])
               : "r"(addr));
}

// 16 E4M3 codes (FP8 chunk c of a row) as 16 BF16 values, stored as BF16
// chunks 2c and 2c + 1 of row `row` of the BF16 tile at `dst`; returns
// nan_bytes of the codes.
__device__ __forceinline__ uint32_t store_chunk_as_bf16(uint32_t dst, uint32_t row, uint32_t c,
                                                        const uint32_t (&w)[4]) {
  uint32_t o[8], nan = 0;
#pragma unroll
  for (uint32_t k = 0; k < 4; ++k) {
    o[2 * k] = e4m3x2_to_bf16x2<0x1404u>(w[k]);
    o[2 * k + 1] = e4m3x2_to_bf16x2<0x3424u>(w[k]);
    nan |= nan_bytes(w[k]);
  }
  asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(dst + swizzled_chunk_offset(row, 2 * c)),
               "r"(o[0]), "r"(o[1]), "r"(o[2]), "r"(o[3])
               : "memory");
  asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(dst + swizzled_chunk_offset(row, 2 * c + 1)),
               "r"(o[4]), "r"(o[5]), "r"(o[6]), "r"(o[7])
               : "memory");
  return nan;
}

// Converts the content of the FP8 tile at `src` (blocks 0-3) into the BF16
// tile at `dst` (8 blocks of [64 keys][128 B], the layout of the BF16
// kernel's K tile, so the same descriptors read it). With kFlagNaN, returns
// whether the thread's key row holds a NaN code (both halves combined; valid
// in every lane, the row being conversion_row(tid)).

// (The per-chunk body repeats store_chunk_as_bf16 on purpose: written with
// that helper, ptxas spilled 12 bytes in the helper warpgroup at 224
// registers.)
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

// Converts the fp8_rope640 Q tile at q + kQFp8Off (its 4 content blocks at
// blocks 4-7 of the BF16 Q tile at q, its rope at block 8) into the BF16 Q
// tile in place: FP8 block j -> BF16 blocks 2j, 2j + 1, i.e. blocks 0-3 from
// FP8 blocks 0-1 (free space), then blocks 4-7 over FP8 blocks 0-3. Thread
// `tid` of the warpgroup takes row conversion_row(tid) and, in each FP8
// block, the 4 chunks of its half (lane bit 3). All reads of FP8 blocks 0-1
// precede the barrier `bar` (this warpgroup only), every write to blocks
// 4-7 follows it. Returns whether the thread's row holds a NaN code (valid
// in every lane). Follow with fence_proxy_async and a barrier before wgmma
// reads the result.
__device__ __forceinline__ bool convert_q_tile_in_place(uint32_t q, uint32_t tid, uint32_t bar) {
  const uint32_t row = conversion_row(tid);
  const uint32_t half = (tid >> 3) & 1;
  uint32_t nan_acc = 0;
#pragma unroll
  for (uint32_t pass = 0; pass < 2; ++pass) {
    uint32_t w[8][4];
#pragma unroll
    for (uint32_t i = 0; i < 8; ++i)  // FP8 chunk c: block c / 8 of the FP8 tile
      load_chunk(q + kQFp8Off + swizzled_chunk_offset(row, 8 * (2 * pass + (i >> 2)) + 4 * half + (i & 3)), w[i]);
    if (pass == 1) named_sync(bar, kWarpgroupThreads);
#pragma unroll
    for (uint32_t i = 0; i < 8; ++i) {
      const uint32_t c = 8 * (2 * pass + (i >> 2)) + 4 * half + (i & 3);
      nan_acc |= store_chunk_as_bf16(q, row, c, w[i]);
    }
  }
  nan_acc |= __shfl_xor_sync(0xffffffffu, nan_acc, 8);  // the other half of the same row
  return nan_acc != 0;
}

}  // namespace mla::cuda_impl::sm90
