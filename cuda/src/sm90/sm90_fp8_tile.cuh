// sm90_fp8_tile.cuh - turning the 64 x 512 E4M3 content of an FP8 KV tile
// into FP16 in shared memory, once per tile, for the FP16 tensor cores
// (Q.K and P.V). Run by the helper warpgroup, or by both consumer warpgroups
// (kFp8SplitConversion). Also the in-place conversion
// of the Q tile to FP16 (the softmax warpgroup, once per request).
//
// E4M3 -> FP16 without a branch, exact for every finite code: the code's
// sign at bit 15 and its 7 magnitude bits (eeee mmm) at bits 7..13 of a
// 16-bit lane make an FP16 with exponent field 0eeee and mantissa mmm0000000,
// i.e. the E4M3 value times 2^(7 - 15) = 2^-8, subnormals (e = 0) included
// (FP16 subnormals of the same pattern). Per pair of codes: a byte permute,
// a shift and one and-or (lop3). The factor 2^-8 goes into the logit and
// output factors. The only code this gets "wrong" is NaN (0x7F / 0xFF become
// +-1.875 = +-480 * 2^-8); such keys and Q rows are flagged separately
// (nan_bytes below) so that their rows still become NaN.
#pragma once

#include <cstdint>

#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_sync.cuh"

namespace mla::cuda_impl::sm90 {

// Two E4M3 codes of `w`, picked by the byte-permute selector (0x1404: bytes
// 0, 1; 0x3424: bytes 2, 3), as an FP16 pair times 2^-8 (first code in the
// low half).
template <uint32_t kSelector>
__device__ __forceinline__ uint32_t e4m3x2_to_f16x2(uint32_t w) {
  uint32_t hi;  // each code in the high byte of its 16-bit lane: sign at bit 15, magnitude at 8..14
  asm("prmt.b32 %0, %1, 0, %2;" : "=r"(hi) : "r"(w), "n"(kSelector));
  return (hi & 0x80008000u) | ((hi >> 1) & 0x3F803F80u);
}

// The first kernel's E4M3 -> BF16 pair (exact; NaN -> +-480), kept for the
// dev harness's conversion check (dev/sm90_dev_fp8.cu); the kernel now uses
// e4m3x2_to_f16x2.
template <uint32_t kSelector>
__device__ __forceinline__ uint32_t e4m3x2_to_bf16x2(uint32_t w) {
  uint32_t hi, d;
  asm("prmt.b32 %0, %1, 0, %2;" : "=r"(hi) : "r"(w), "n"(kSelector));
  const uint32_t m = hi >> 4;                                          // magnitude at 4..10, sign at 11
  asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(m + (m & 0x08000800u) * 15u), "r"(0x7B807B80u));  // x 2^120
  return d;
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

// One 16-byte chunk of shared memory into registers. The "memory" clobber
// keeps it on its side of the barriers and of the in-place stores that
// follow it (the Q conversions overwrite what other lanes load).
__device__ __forceinline__ void load_chunk(uint32_t addr, uint32_t (&w)[4]) {
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(w[0]), "=r"(w[1]), "=r"(w[2]), "=r"(w[3])
               : "r"(addr)
               : "memory");
}

// 16 E4M3 codes (FP8 chunk c of a row) as 16 FP16 values (x 2^-8), stored
// as 16-bit chunks 2c and 2c + 1 of row `row` of the tile at `dst`; returns
// nan_bytes of the codes.
__device__ __forceinline__ uint32_t store_chunk_as_f16(uint32_t dst, uint32_t row, uint32_t c,
                                                        const uint32_t (&w)[4]) {
  uint32_t o[8], nan = 0;
#pragma unroll
  for (uint32_t k = 0; k < 4; ++k) {
    o[2 * k] = e4m3x2_to_f16x2<0x1404u>(w[k]);
    o[2 * k + 1] = e4m3x2_to_f16x2<0x3424u>(w[k]);
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

// The shared body of both conversions: FP8 chunks c0 .. c0 + 4 kGroups - 1
// of key row `row` (16 codes each) of the KV tile at `src` (its layout:
// fp8_kv_chunk_offset) into FP16 chunks 2c, 2c + 1 of the same row of `dst`
// (column blocks), four 16-byte loads in flight before the first use;
// returns nan_bytes of all the codes (0 unless kFlagNaN).
template <uint32_t kGroups, bool kFlagNaN>
__device__ __forceinline__ uint32_t convert_row_chunks(uint32_t src, uint32_t dst, uint32_t row, uint32_t c0) {
  uint32_t nan_acc = 0;
#pragma unroll
  for (uint32_t g = 0; g < kGroups; ++g) {
    uint32_t w[4][4];
#pragma unroll
    for (uint32_t i = 0; i < 4; ++i) {
      const uint32_t c = c0 + 4 * g + i;  // FP8 chunk: content columns 16c .. 16c + 15
      asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
                   : "=r"(w[i][0]), "=r"(w[i][1]), "=r"(w[i][2]), "=r"(w[i][3])
                   : "r"(src + fp8_kv_chunk_offset(row, c)));
    }
#pragma unroll
    for (uint32_t i = 0; i < 4; ++i) {
      const uint32_t c = c0 + 4 * g + i;
      uint32_t o[8];
#pragma unroll
      for (uint32_t k = 0; k < 4; ++k) {
        o[2 * k] = e4m3x2_to_f16x2<0x1404u>(w[i][k]);
        o[2 * k + 1] = e4m3x2_to_f16x2<0x3424u>(w[i][k]);
        if constexpr (kFlagNaN) nan_acc |= nan_bytes(w[i][k]);
      }
      // 16 FP16 values = 16-bit chunks 2c and 2c + 1 of the row.
      asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(dst + swizzled_chunk_offset(row, 2 * c)),
                   "r"(o[0]), "r"(o[1]), "r"(o[2]), "r"(o[3])
                   : "memory");
      asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(dst + swizzled_chunk_offset(row, 2 * c + 1)),
                   "r"(o[4]), "r"(o[5]), "r"(o[6]), "r"(o[7])
                   : "memory");
    }
  }
  return nan_acc;
}

// Converts the content of the FP8 tile at `src` (blocks 0-3) into the FP16
// tile at `dst` (8 blocks of [64 keys][128 B], the layout of the BF16
// kernel's K tile, so the same descriptors read it), the helper warpgroup
// alone. With kFlagNaN, returns whether the thread's key row holds a NaN
// code (both halves combined; valid in every lane, the row being
// conversion_row(tid)).
template <bool kFlagNaN>
__device__ __forceinline__ bool convert_content_tile(uint32_t src, uint32_t dst, uint32_t tid) {
  const uint32_t half = (tid >> 3) & 1;
  uint32_t nan_acc = convert_row_chunks<4, kFlagNaN>(src, dst, conversion_row(tid), 16 * half);
  if constexpr (kFlagNaN) {
    nan_acc |= __shfl_xor_sync(0xffffffffu, nan_acc, 8);  // the other half of the same row
    return nan_acc != 0;
  }
  return false;
}

// The split conversion (kFp8SplitConversion): both consumer warpgroups
// convert a tile, warpgroup `part` (0: the softmax WG, 1: the helper) the key
// rows 32 part .. 32 part + 31, all 32 chunks of each, so a key's NaN flag
// and its sigma_k copy belong to one warpgroup. Thread `tid` of the
// warpgroup takes row 32 part + 8 warp + (lane & 7) and the quarter lane >> 3
// of its chunks (8 of 32): the 8 lanes of a quarter-warp touch 8 rows of one
// chunk, 8 distinct 16-byte bank groups under the swizzle, as in
// convert_content_tile. Half the work a thread of the whole-tile conversion,
// which sat alone on the serial chain TileFree -> conversion -> S (the softmax
// WG only waited there).
__device__ __forceinline__ uint32_t split_conversion_row(uint32_t tid, uint32_t part) {
  return 32 * part + 8 * (tid >> 5) + (tid & 7);
}

template <bool kFlagNaN>
__device__ __forceinline__ bool convert_content_rows(uint32_t src, uint32_t dst, uint32_t tid, uint32_t part) {
  const uint32_t quarter = (tid >> 3) & 3;
  uint32_t nan_acc = convert_row_chunks<2, kFlagNaN>(src, dst, split_conversion_row(tid, part), 8 * quarter);
  if constexpr (kFlagNaN) {
    // The other quarters of the same row: lanes l ^ 8, l ^ 16, l ^ 24.
    nan_acc |= __shfl_xor_sync(0xffffffffu, nan_acc, 8);
    nan_acc |= __shfl_xor_sync(0xffffffffu, nan_acc, 16);
    return nan_acc != 0;
  }
  return false;
}

// The split conversion's share of one warpgroup, then that warpgroup's rows
// of the NaN-aware sigma_k copy that softmax_tile_scaled reads after VReady
// (NaN for a key with a NaN code: its conversion made it finite), then the
// proxy fence for the wgmma reads of the FP16 copy. Every thread of the
// warpgroup calls it between TileFree (or the item start) and VReady.
__device__ __forceinline__ void convert_tile_share(uint32_t tile, uint32_t dst, uint32_t sigma_k_stage,
                                                   float* sigma_s, uint32_t tid, uint32_t part) {
  const bool has_nan = convert_content_rows<true>(tile, dst, tid, part);
  if ((tid & 24) == 0) {  // quarter 0 of each row writes
    const uint32_t row = split_conversion_row(tid, part);
    float sk;
    asm volatile("ld.shared.f32 %0, [%1];" : "=f"(sk) : "r"(sigma_k_stage + 4u * row));
    sigma_s[row] = has_nan ? __int_as_float(0x7fc00000) : sk;
  }
  fence_proxy_async();  // the FP16 copy is read by wgmma (async proxy)
}

// Multiplies the 4 rope chunks of the thread's half of its Q row (BF16, block
// 8 of the tile at q) by 2^-e in place: the rope MMAs then add the same
// multiple of the dot product as the FP16 content MMAs. Exact unless the
// product leaves BF16's range.
// One 16-byte chunk of 8 BF16 values at addr times f (a power of two), in place.
__device__ __forceinline__ void scale_bf16_chunk(uint32_t addr, float f) {
  uint32_t w[4];
  load_chunk(addr, w);
#pragma unroll
  for (uint32_t k = 0; k < 4; ++k)
    w[k] = pack_bf16x2(__uint_as_float(w[k] << 16) * f, __uint_as_float(w[k] & 0xFFFF0000u) * f);
  asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "r"(w[0]), "r"(w[1]), "r"(w[2]), "r"(w[3])
               : "memory");
}

__device__ __forceinline__ void scale_q_rope(uint32_t q, uint32_t row, uint32_t half, int32_t e) {
  const float f = __int_as_float((127 - e) << 23);  // 2^-e, e in [-100, 126]
#pragma unroll
  for (uint32_t i = 0; i < 4; ++i) scale_bf16_chunk(q + swizzled_chunk_offset(row, 64 + 4 * half + i), f);
}

// The largest finite |BF16| bit pattern of mx and the 8 values of w (the
// pattern is monotone in the magnitude).
__device__ __forceinline__ uint32_t max_finite_bf16(uint32_t mx, const uint32_t (&w)[4]) {
#pragma unroll
  for (uint32_t k = 0; k < 4; ++k) {
    const uint32_t lo = w[k] & 0x7FFFu, hi = (w[k] >> 16) & 0x7FFFu;
    mx = max(mx, lo < 0x7F80u ? lo : 0u);
    mx = max(mx, hi < 0x7F80u ? hi : 0u);
  }
  return mx;
}

// The e that puts a row whose largest finite |BF16| pattern is mx in
// [2^14, 2^15) once multiplied by 2^-e (0 for an all-zero row, at least -100).
__device__ __forceinline__ int32_t bf16_row_exponent(uint32_t mx) {
  const int32_t biased = max(int32_t(mx >> 7), 1);  // exponent field (subnormals: 1)
  return mx == 0 ? 0 : max(biased - 127 - 14, -100);
}

// 8 BF16 values (w) times f as 8 FP16 values, in place.
__device__ __forceinline__ void bf16_chunk_to_f16(uint32_t (&w)[4], float f) {
#pragma unroll
  for (uint32_t k = 0; k < 4; ++k) {
    uint32_t h;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;"
        : "=r"(h)
        : "f"(__uint_as_float(w[k] & 0xFFFF0000u) * f), "f"(__uint_as_float(w[k] << 16) * f));
    w[k] = h;
  }
}

// Converts the fp8_rope640 Q tile at q + kQFp8Off (its 4 content blocks at
// blocks 4-7 of the 72 KiB Q tile at q, its rope at block 8) in place into
// the FP16 Q tile: FP8 block j -> 16-bit blocks 2j, 2j + 1, i.e. blocks 0-3
// from FP8 blocks 0-1 (free space), then blocks 4-7 over FP8 blocks 0-3.
// Thread `tid` of the warpgroup takes row conversion_row(tid) and, in each
// FP8 block, the 4 chunks of its half (lane bit 3): a row's bytes are read
// and written by two lanes of one warp only, so a __syncwarp between the
// reads of FP8 blocks 0-3 and the writes to blocks 4-7 is all the ordering
// the conversion needs (no warpgroup barrier: a barrier of one consumer
// warpgroup alone before the hand-offs made racecheck report them, see
// docs/cuda_design.md). The content becomes code * 2^-8 (as the KV tiles'),
// the rope is scaled by 2^-16 to match. Returns kQExpNaN when the thread's
// row holds a NaN code, else 16: S = 2^16 x what the MMAs sum (valid in
// every lane). Follow with fence_proxy_async and a barrier of both consumer
// warpgroups (VReady) before wgmma reads the result.
__device__ __forceinline__ int32_t convert_q_fp8_in_place(uint32_t q, uint32_t tid) {
  const uint32_t row = conversion_row(tid);
  const uint32_t half = (tid >> 3) & 1;
  uint32_t nan_acc = 0;
#pragma unroll
  for (uint32_t pass = 0; pass < 2; ++pass) {
    uint32_t w[8][4];
#pragma unroll
    for (uint32_t i = 0; i < 8; ++i)  // FP8 chunk c: block c / 8 of the FP8 tile
      load_chunk(q + kQFp8Off + swizzled_chunk_offset(row, 8 * (2 * pass + (i >> 2)) + 4 * half + (i & 3)), w[i]);
    if (pass == 1) __syncwarp();
#pragma unroll
    for (uint32_t i = 0; i < 8; ++i)
      nan_acc |= store_chunk_as_f16(q, row, 8 * (2 * pass + (i >> 2)) + 4 * half + (i & 3), w[i]);
  }
  scale_q_rope(q, row, half, 16);
  nan_acc |= __shfl_xor_sync(0xffffffffu, nan_acc, 8);  // the other half of the same row
  return nan_acc != 0 ? kQExpNaN : 16;
}

// Converts the BF16 Q tile at q (content blocks 0-7) in place into FP16
// with a power-of-two scale per row, 2^-E: E puts the row's largest finite
// |value| in [2^14, 2^15) (E >= -100), so every value within 2^-28 of it
// stays exact and none overflows; Inf and NaN stay Inf and NaN. The rope
// (block 8, BF16) is scaled by 2^-(E + 8) to match the KV tiles' 2^-8.
// Thread `tid` takes row conversion_row(tid), half (lane bit 3) of its
// chunks; the two lanes of a row agree on E through a shuffle. Returns
// E + 8: S = 2^(E + 8) x what the MMAs sum (valid in every lane).
__device__ __forceinline__ int32_t convert_q_bf16_in_place(uint32_t q, uint32_t tid) {
  const uint32_t row = conversion_row(tid);
  const uint32_t half = (tid >> 3) & 1;
  uint32_t mx = 0;  // largest finite |BF16| bit pattern (monotone in the value)
#pragma unroll 4
  for (uint32_t c = 32 * half; c < 32 * half + 32; ++c) {
    uint32_t w[4];
    load_chunk(q + swizzled_chunk_offset(row, c), w);
    mx = max_finite_bf16(mx, w);
  }
  mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, 8));
  const int32_t e = bf16_row_exponent(mx);
  const float f = __int_as_float((127 - e) << 23);  // 2^-e
#pragma unroll 4
  for (uint32_t c = 32 * half; c < 32 * half + 32; ++c) {
    const uint32_t addr = q + swizzled_chunk_offset(row, c);
    uint32_t w[4];
    load_chunk(addr, w);
    bf16_chunk_to_f16(w, f);
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "r"(w[0]), "r"(w[1]), "r"(w[2]), "r"(w[3])
                 : "memory");
  }
  scale_q_rope(q, row, half, e + 8);
  return e + 8;
}

}  // namespace mla::cuda_impl::sm90
