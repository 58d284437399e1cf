// sm90_fp8s_config.cuh - the shape of the transposed small-H sm_90a kernel
// for an fp8_rope640 KV cache (docs/fp8_small_h_design.md): every M tile has
// at most 16 query rows (heads x tokens), and the products run transposed,
// S^T = K.Q^T and O^T = V^T.P^T, as wgmma m64n16k16 (M = 64 keys or value
// dims, N = 16 query rows), so no tensor work goes to padding rows. The
// compact Q layout, the P^T layout and their descriptors; the kernel's
// roles and shared-memory map are in sm90_fp8r_config.cuh (the register-A
// form; the FP16-copy form of the design's step 2 was removed in the fifth
// session after it measured no faster than the M = 64 route).
#pragma once

#include <cstdint>

#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"

namespace mla::cuda_impl::sm90 {

constexpr uint32_t kSmallRows = 16;            // query rows of an M tile here (wgmma N)
constexpr uint32_t kQcBlockBytes = 16 * 128;   // a compact Q column block: [16 rows][128 B]
// fp8_rope640 Q lands at compact blocks 4-8 (its 5 blocks of 128 bytes per
// row): the in-place conversion turns FP8 block j into FP16 blocks 2j, 2j + 1
// and the rope (FP8 block 4) is then block 8, where the BF16 layout keeps it.
constexpr uint32_t kQcFp8Off = 4 * kQcBlockBytes;

// Byte offset of 16-byte chunk c of row r in a compact Q tile (9 blocks of
// [16 rows][128 B], the 128-byte swizzle of swizzled_chunk_offset).
__host__ __device__ constexpr uint32_t qc_chunk_offset(uint32_t row, uint32_t chunk) {
  return (chunk >> 3) * kQcBlockBytes + row * 128u + (((chunk & 7u) ^ (row & 7u)) << 4);
}

// Arrivals of a warpgroup-only mbarrier (every thread of it: racecheck
// releases a thread's accesses at its own arrive, docs/cuda_design.md).
constexpr uint32_t kFp8sWgArrivals = kWarpgroupThreads;

// ---- descriptors (sm90_wgmma.cuh make_sw128_desc, 128-byte swizzle) ----
// S^T content, A: a K-major FP16 tile (the dev harness's check-fp8s of the
// m64n16k16 forms), k-step kk = dims 16kk.. in block kk / 4.
__device__ __forceinline__ uint32_t fp8s_k_addr(uint32_t v16, uint32_t kk) {
  return v16 + (kk >> 2) * kColBlockBytes + (kk & 3) * 32;
}
// S^T content / rope, B: compact Q (K-major, 16 rows = two 8-row atoms).
__device__ __forceinline__ uint32_t fp8s_q_addr(uint32_t qc, uint32_t kk) {
  return qc + (kk >> 2) * kQcBlockBytes + (kk & 3) * 32;
}
// O^T, A (the same check): V^T m-tile i (value dims 64i..64i+63 = FP16 block i), MN-major,
// k-step kk = keys 16kk..16kk+15 (16 rows of 128 B).
__device__ __forceinline__ uint32_t fp8s_vt_addr(uint32_t v16, uint32_t i, uint32_t kk) {
  return v16 + i * kColBlockBytes + kk * 2048;
}
// O^T, B: P^T (K-major, 16 rows of 64 keys), k-step kk = keys 16kk..
__device__ __forceinline__ uint32_t fp8s_p_addr(uint32_t pt, uint32_t kk) { return pt + kk * 32; }

// Byte offset of P^T element (query row n, key k).
__host__ __device__ constexpr uint32_t fp8s_p_offset(uint32_t n, uint32_t k) {
  return n * 128u + ((((k >> 3) ^ (n & 7u)) & 7u) << 4) + 2u * (k & 7u);
}

// Runtime switch (sm90_decode_fp8.cu): MLA_SM90_FP8_SMALLH = 1 / unset (on
// when plan.max_q_len x H <= 16: a key the batch cannot move; the default),
// 2 (on when min(plan.max_q_len, total_q) x H <= 16: wider test coverage,
// but a request's kernel may then depend on its batch, which breaks bitwise
// batch invariance), 0 (off). Build with -DMLA_SM90_FP8_SMALLH_BUILD=0 to
// leave the kernel out (the environment is then ignored): the "old" variant
// of tools/device/ab_check.sh.
#ifndef MLA_SM90_FP8_SMALLH_BUILD
#define MLA_SM90_FP8_SMALLH_BUILD 1
#endif

}  // namespace mla::cuda_impl::sm90
