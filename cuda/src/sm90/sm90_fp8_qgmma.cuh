// sm90_fp8_qgmma.cuh - S (or S^T) of one 64-key tile for an fp8_rope640 Q
// and KV on Hopper's tensor cores, shared by the register-V (S = Q.K^T,
// N = 64) and rows-split (S^T = K.Q^T, N = 32) M = 64 kernels: the 64 rope
// values on the BF16 cores straight into s, the 512 content values on the
// FP8 cores (QGMMA k32), promoted to fp32 every kPer k-steps (Hopper's FP8
// accumulation keeps ~13-14 bits; sm90_fp8v_config.cuh has the measurements
// behind kPer = 2).
#pragma once

#include <cstdint>

#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_wgmma.cuh"
#include "sm90_wgmma_ops.cuh"

namespace mla::cuda_impl::sm90 {

// One k-step, N = 64 (32 accumulators) or 32 (16): BF16 k16, E4M3 k32.
__device__ __forceinline__ void wgmma_bf16_ss(float (&d)[32], uint64_t a, uint64_t b, uint32_t acc) {
  wgmma_m64n64k16_ss(d, a, b, acc);
}
__device__ __forceinline__ void wgmma_bf16_ss(float (&d)[16], uint64_t a, uint64_t b, uint32_t acc) {
  wgmma_m64n32k16_ss(d, a, b, acc);
}
__device__ __forceinline__ void wgmma_e4m3_ss(float (&d)[32], uint64_t a, uint64_t b, uint32_t acc) {
  wgmma_m64n64k32_e4m3_ss(d, a, b, acc);
}
__device__ __forceinline__ void wgmma_e4m3_ss(float (&d)[16], uint64_t a, uint64_t b, uint32_t acc) {
  wgmma_m64n32k32_e4m3_ss(d, a, b, acc);
}

// s = A.B over the 9 column blocks of two FP8 tiles (a_desc, b_desc: the
// descriptors of their first rows, both K-major, 128-byte swizzled): the
// rope (block 4) in 4 BF16 k-steps, the content in 16 / kPer groups of kPer
// E4M3 k-steps (32 bytes each, block kk / 4), each group into one of two
// accumulators, added to s in fp32 after it finishes, two groups in flight.
// Returns with every wgmma finished.
template <uint32_t kPer, int kAcc>
__device__ __forceinline__ void qgmma_promoted(float (&s)[kAcc], uint64_t a_desc, uint64_t b_desc) {
  constexpr uint32_t kGroups = 16 / kPer;
  float acc[2][kAcc];
  wgmma_fence();
#pragma unroll
  for (uint32_t kk = 0; kk < 4; ++kk) {
    const uint32_t off = kFp8RopeBlock * kColBlockBytes + kk * 32;
    wgmma_bf16_ss(s, desc_advance(a_desc, off), desc_advance(b_desc, off), kk > 0 ? 1u : 0u);
  }
#pragma unroll
  for (uint32_t grp = 0; grp < kGroups; ++grp) {
    const uint32_t b = grp & 1;
    if (grp >= 2) {
      wgmma_wait<1>();  // group grp - 2 (and the rope) finished
      pin_regs(acc[b]);
      pin_regs(s);
#pragma unroll
      for (int x = 0; x < kAcc; ++x) s[x] += acc[b][x];
      wgmma_fence();  // acc[b] was read: the next group overwrites it
    }
#pragma unroll
    for (uint32_t j = 0; j < kPer; ++j) {
      const uint32_t kk = kPer * grp + j;
      const uint32_t off = (kk >> 2) * kColBlockBytes + (kk & 3) * 32;
      wgmma_e4m3_ss(acc[b], desc_advance(a_desc, off), desc_advance(b_desc, off), j > 0 ? 1u : 0u);
    }
    wgmma_commit();
  }
  if constexpr (kGroups >= 2) {  // the last two groups, in order
    constexpr uint32_t b = (kGroups - 2) & 1;
    wgmma_wait<1>();
    pin_regs(acc[b]);
    pin_regs(s);
#pragma unroll
    for (int x = 0; x < kAcc; ++x) s[x] += acc[b][x];
  }
  constexpr uint32_t b = (kGroups - 1) & 1;
  wgmma_wait<0>();
  pin_regs(acc[b]);
  pin_regs(s);
#pragma unroll
  for (int x = 0; x < kAcc; ++x) s[x] += acc[b][x];
}

}  // namespace mla::cuda_impl::sm90
