// sm90_fp8s_config.cuh - the shape of the transposed small-H sm_90a kernel
// for an fp8_rope640 KV cache (docs/fp8_small_h_design.md): every M tile has
// at most 16 query rows (heads x tokens), and the products run transposed,
// S^T = K.Q^T and O^T = V^T.P^T, as wgmma m64n16k16 (M = 64 keys or value
// dims, N = 16 query rows), so no tensor work goes to padding rows.
// Roles (384 threads, the register budgets of sm90_fp8_config.cuh):
//   WG 0 "producer": the compact Q (16 rows) and the FP8 KV tiles + scales
//        (load_kv_tile_fp8 of sm90_fp8_producer.cuh, unchanged: TMA or cp.async).
//   WG 1 "attend":   Q -> compact FP16 once per request; per tile S^T, the
//        softmax over keys, P^T, O^T (all 512 value dims); the epilogue.
//   WG 2 "convert":  E4M3 -> FP16 copy of each tile's content + the NaN-aware
//        sigma_k copy.
// This is step 2 of the design (section 8): one FP16 copy of 8 blocks, no
// overlap of the conversion with WG 1's chain (the 15-block pool of section 4
// is step 3). Numerics as the current route (sm90_fp8_softmax_wg.cuh).
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

struct Fp8sSmem {
  static constexpr uint32_t kQ = 0;                                // compact Q: 9 x 2 KiB
  static constexpr uint32_t kKV = kQ + 9 * kQcBlockBytes;          // kStages FP8 tiles (40 KiB each)
  static constexpr uint32_t kV = kKV + kStages * kFp8TileBytes;    // FP16 copy: 8 blocks of [64 keys][128 B]
  static constexpr uint32_t kP = kV + kBf16ContentBytes;           // P^T: 16 rows x 64 keys FP16, swizzled
  static constexpr uint32_t kRed = kP + kQcBlockBytes;             // 2 parities x 4 warps x 16 rows x 2 floats
  static constexpr uint32_t kSum = kRed + 2 * 4 * 16 * 2 * 4;      // 2 item parities x 4 warps x 16 floats
  static constexpr uint32_t kSigmaK = kSum + 2 * 4 * 16 * 4;       // kStages x 64 floats (producer)
  static constexpr uint32_t kSigmaS = kSigmaK + kStages * 64 * 4;  // 64 floats: WG 2's NaN-aware copy
  static constexpr uint32_t kQExp = kSigmaS + 64 * 4;              // 16 int32: e of each Q row (kQExpNaN)
  static constexpr uint32_t kBarFull = kQExp + 16 * 4;
  static constexpr uint32_t kBarEmpty = kBarFull + 8 * kStages;
  static constexpr uint32_t kBarQFull = kBarEmpty + 8 * kStages;
  static constexpr uint32_t kBarQEmpty = kBarQFull + 8;
  static constexpr uint32_t kBarRed = kBarQEmpty + 8;  // WG 1 only, 128 arrivals: the cross-warp maxima
  static constexpr uint32_t kBarP = kBarRed + 8;       // WG 1 only, 128 arrivals: P^T written
  static constexpr uint32_t kEnd = kBarP + 8;
  static constexpr uint32_t kDynamicBytes = kEnd + 1024;  // slack to align the base
  static_assert(kDynamicBytes <= 232448, "more than the 227 KiB a CTA may use");
  static_assert(kKV % 1024 == 0 && kV % 1024 == 0 && kP % 1024 == 0, "swizzle atoms need 1024-byte alignment");
};

// Arrivals of the warpgroup-1-only mbarriers (every thread of it: racecheck
// releases a thread's accesses at its own arrive, docs/cuda_design.md).
constexpr uint32_t kFp8sWgArrivals = kWarpgroupThreads;

// Named barriers between the consumer warpgroups (256 threads, barrier.sync
// on both sides, met in the same order: per tile VReady, then PoolFree for
// every tile but an item's last; per item ItemEnd, which also frees the FP16
// copy for the next item's first tile).
constexpr uint32_t kBarSmallVReady = 4;    // WG 2 wrote the tile's FP16 copy and sigma copy
constexpr uint32_t kBarSmallPoolFree = 5;  // WG 1's S^T and O^T of the tile completed
// kBarItemEnd (3) of sm90_config.cuh: WG 1's last wgmma of the item completed.

// ---- descriptors (sm90_wgmma.cuh make_sw128_desc, 128-byte swizzle) ----
// S^T content, A: K-major FP16 copy, k-step kk = dims 16kk.. in block kk / 4.
__device__ __forceinline__ uint32_t fp8s_k_addr(uint32_t v16, uint32_t kk) {
  return v16 + (kk >> 2) * kColBlockBytes + (kk & 3) * 32;
}
// S^T content / rope, B: compact Q (K-major, 16 rows = two 8-row atoms).
__device__ __forceinline__ uint32_t fp8s_q_addr(uint32_t qc, uint32_t kk) {
  return qc + (kk >> 2) * kQcBlockBytes + (kk & 3) * 32;
}
// O^T, A: V^T m-tile i (value dims 64i..64i+63 = FP16 block i), MN-major,
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

// Runtime switch (sm90_decode_fp8.cu): MLA_SM90_FP8_SMALLH = 0 / unset (off,
// the default), 1 (on when plan.max_q_len x H <= 16: a key the batch cannot
// move), 2 (on when min(plan.max_q_len, total_q) x H <= 16: wider test
// coverage, but a request's kernel may then depend on its batch, which breaks
// the bitwise batch-invariance and max_q_len tests). Build with
// -DMLA_SM90_FP8_SMALLH_BUILD=0 to leave the kernel out (the environment is
// then ignored): the "old" variant of tools/device/ab_check.sh.
#ifndef MLA_SM90_FP8_SMALLH_BUILD
#define MLA_SM90_FP8_SMALLH_BUILD 1
#endif

}  // namespace mla::cuda_impl::sm90
