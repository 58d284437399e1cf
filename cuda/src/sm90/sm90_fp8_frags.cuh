// sm90_fp8_frags.cuh - register fragments of an FP8 KV tile for the wgmma
// A operand, shared by the kernels that convert E4M3 in registers (the
// small-H register-A kernel, sm90_fp8r_*, and the register-V M = 64 kernel,
// sm90_fp8v_*).
#pragma once

#include <cstdint>

#include "../portable/ptx_sm80.cuh"
#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_wgmma.cuh"

namespace mla::cuda_impl::sm90 {

// Two E4M3 codes (bytes 0, 1 and 2, 3 of w) as FP16 pairs, their values
// exactly (first code in the low half); NaN stays NaN.
__device__ __forceinline__ void e4m3x4_to_f16x2x2(uint32_t w, uint32_t& lo, uint32_t& hi) {
  asm("{\n\t.reg .b16 a, b;\n\tmov.b32 {a, b}, %2;\n\t"
      "cvt.rn.f16x2.e4m3x2 %0, a;\n\tcvt.rn.f16x2.e4m3x2 %1, b;\n\t}"
      : "=r"(lo), "=r"(hi)
      : "r"(w));
}

template <int N>
__device__ __forceinline__ void pin_frags(uint32_t (&a)[N][4]) {
#pragma unroll
  for (int k = 0; k < N; ++k) pin_regs(a[k]);
}

// The codes of V^T fragments of m-tile i (value dims 64i + 16w..) for
// k-steps 2kp, 2kp + 1 (keys 32kp..32kp + 31) of the FP8 tile at `tile`, by
// ldmatrix.trans over 16-bit pairs: R[j] holds keys 32kp + 8j + 2t, + 1 of
// dims 2g, 2g + 1 (t = lane % 4, g = lane / 4), a byte each.
__device__ __forceinline__ void fp8r_vt_load(uint32_t tile, uint32_t warp, uint32_t lane, uint32_t i, uint32_t kp,
                                             uint32_t (&R)[4]) {
  if constexpr (kFp8KvRowGroups) {
    // Lane l points at row l % 8 of matrix l / 8, key 32 kp + l: the same
    // address as below (32 keys = 4 row groups) in the form that ptxas
    // spills less with in fp8v3's P.V warpgroups (140 / 180 bytes of spill
    // stores / loads against 188 / 228); the column-block layout keeps its form.
    ptx::ldmatrix_x4_trans(tile + kp * (4 * kFp8KvGroupStride) + fp8_kv_chunk_offset(lane, 4 * i + warp), R);
  } else {
    const uint32_t j = lane >> 3, r = lane & 7;
    ptx::ldmatrix_x4_trans(tile + fp8_kv_chunk_offset(32 * kp + 8 * j + r, 4 * i + warp), R);
  }
}

}  // namespace mla::cuda_impl::sm90
