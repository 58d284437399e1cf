// sm90_epilogue.cuh - writing a consumer warpgroup's half of the output tile.
//
// Accumulator layout of a wgmma m64n256 (per thread, 128 floats): warp w of
// the warpgroup owns rows 16w..16w+15; lane l holds rows r0 = 16w + l/4 and
// r0 + 8, and in each 8-column block j the two columns 8j + 2(l%4) + {0,1}:
// o[4j + 0..1] for row r0, o[4j + 2..3] for row r0 + 8.
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"

namespace mla::cuda_impl::sm90 {

struct RowPair {
  uint32_t r0;    // first row (tile-local); the second is r0 + 8
  uint32_t quad;  // lane % 4: which column pair of each 8-column block
};

__device__ __forceinline__ RowPair thread_rows(uint32_t thread_in_wg) {
  const uint32_t warp = thread_in_wg >> 5, lane = thread_in_wg & 31;
  return RowPair{warp * 16 + (lane >> 2), lane & 3};
}

// Measurement builds only (api.cpp, MLA_DEV_SKIP bit 5): the epilogue stores
// nothing (both loops below run zero times), to time what the stores cost.
#if defined(MLA_DEV_SKIP) && (MLA_DEV_SKIP & 32)
constexpr int kEpilogueRows = 0;
#else
constexpr int kEpilogueRows = 2;  // the thread's two rows, r0 and r0 + 8
#endif

// Writes columns [col0, col0 + 256) of the thread's two rows, scaled by
// inv_sum (1 / softmax sum, 0 for a row that saw no key): BF16 (round to
// nearest even) into out for a whole-request item, fp32 into the split-K
// workspace otherwise. Rows past v.rows are padding and are not written.
__device__ __forceinline__ void store_output_half(const DecodeParams& p, const ItemView& v, RowPair rp,
                                                  uint32_t col0, const float (&o)[128], const float (&inv_sum)[2]) {
#pragma unroll
  for (int h = 0; h < kEpilogueRows; ++h) {
    const int32_t r = int32_t(rp.r0) + 8 * h;
    if (r >= v.rows) continue;
    const uint32_t col = col0 + 2 * rp.quad;
    if (v.partial_row < 0) {
      uint16_t* dst = p.out + (v.q_row0 + r) * int64_t(MLA_DIM_V) + col;
#pragma unroll
      for (int j = 0; j < 32; ++j) {
        const uint32_t packed = pack_bf16x2(o[4 * j + 2 * h] * inv_sum[h], o[4 * j + 2 * h + 1] * inv_sum[h]);
        *reinterpret_cast<uint32_t*>(dst + 8 * j) = packed;
      }
    } else {
      float* dst = p.partial_out + (int64_t(v.partial_row) + v.row0 + r) * int64_t(MLA_DIM_V) + col;
#pragma unroll
      for (int j = 0; j < 32; ++j)
        *reinterpret_cast<float2*>(dst + 8 * j) =
            make_float2(o[4 * j + 2 * h] * inv_sum[h], o[4 * j + 2 * h + 1] * inv_sum[h]);
    }
  }
}

// The LSE of the thread's two rows (written by lane % 4 == 0 of the softmax WG).
__device__ __forceinline__ void store_lse(const DecodeParams& p, const ItemView& v, RowPair rp, const float (&lse)[2]) {
  if (rp.quad != 0) return;
#pragma unroll
  for (int h = 0; h < kEpilogueRows; ++h) {
    const int32_t r = int32_t(rp.r0) + 8 * h;
    if (r >= v.rows) continue;
    if (v.partial_row < 0)
      p.lse[v.q_row0 + r] = lse[h];
    else
      p.partial_lse[int64_t(v.partial_row) + v.row0 + r] = lse[h];
  }
}

}  // namespace mla::cuda_impl::sm90
