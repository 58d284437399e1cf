// sm90_fp8r_config.cuh - the register-A form of the transposed small-H
// fp8-KV kernel (docs/fp8_small_h_design.md, "Register-A form"): S^T =
// K.Q^T and O^T = V^T.P^T as wgmma m64n16k16 with the A operand (K, V^T) in
// registers, converted from the FP8 stage by the warpgroup that multiplies
// (ldmatrix, then E4M3 -> FP16 in registers). No FP16 copy of the tile in
// shared memory, no hand-off per tile between the consumer warpgroups: they
// take alternate tiles (ping-pong) with their own softmax state and merge
// it per item.
// Roles (384 threads): WG 0 the producer (fp8s_producer_loop, 4 stages
// here), WG 1 and WG 2 "attend" (sm90_fp8r_attend_wg.cuh), tiles of even /
// odd global index.
#pragma once

#include <cstdint>

#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8s_config.cuh"

namespace mla::cuda_impl::sm90 {

constexpr uint32_t kRStages = 4;  // FP8 stages: two held by the attend WGs, two in flight

// S^T runs in this many batches of 32 / N k-steps, two register buffers (a
// batch's wgmma run while the next one converts): 2, 4, 8 or 16 (A/B builds:
// -DMLA_SM90_FP8R_SBATCHES=N; 4 needs 32 more registers than 8).
#ifndef MLA_SM90_FP8R_SBATCHES
#define MLA_SM90_FP8R_SBATCHES 8
#endif
static_assert(MLA_SM90_FP8R_SBATCHES == 2 || MLA_SM90_FP8R_SBATCHES == 4 || MLA_SM90_FP8R_SBATCHES == 8 ||
                  MLA_SM90_FP8R_SBATCHES == 16,
              "S^T batches: 2, 4, 8 or 16");

// fp8_rope640 Q: S^T's content on the FP8 tensor cores (QGMMA m64n16k32
// e4m3 x e4m3, A = the FP8 stage, B = the FP8 Q as loaded: no conversion of
// either), the accumulator promoted to fp32 every MLA_SM90_FP8R_PROMOTE
// k-steps (Hopper's FP8 accumulation keeps ~13 bits: docs/perf_notes.md,
// "Helper, third session": every 2 k-steps models like exact fp32, DeepSeek's
// 4 does not). 0: the cvt + FP16 path of bf16 Q for both (A/B builds).
#ifndef MLA_SM90_FP8R_QGMMA
#define MLA_SM90_FP8R_QGMMA 1
#endif
#ifndef MLA_SM90_FP8R_PROMOTE
#define MLA_SM90_FP8R_PROMOTE 2
#endif
constexpr bool kFp8rQgmma = MLA_SM90_FP8R_QGMMA != 0;
constexpr uint32_t kFp8rPromote = MLA_SM90_FP8R_PROMOTE;
static_assert(kFp8rPromote == 1 || kFp8rPromote == 2 || kFp8rPromote == 4, "promotion every 1, 2 or 4 k-steps");

struct Fp8rSmem {
  static constexpr uint32_t kQ = 0;                                // compact Q: 9 x 2 KiB (permuted FP16 content)
  static constexpr uint32_t kKV = kQ + 9 * kQcBlockBytes;          // kRStages FP8 tiles (40 KiB each)
  static constexpr uint32_t kP = kKV + kRStages * kFp8TileBytes;   // P^T of WG 1, then of WG 2 (2 KiB each)
  static constexpr uint32_t kMerge = kP + 2 * kQcBlockBytes;       // WG 2's O^T: 16 x 128 threads x 16 B
  static constexpr uint32_t kMergeRow = kMerge + 16 * 128 * 16;    // WG 2's m and R per row: 16 x 2 floats
  static constexpr uint32_t kSum = kMergeRow + 16 * 2 * 4;         // [wg][warp][row] partial sums: 2 x 4 x 16
  static constexpr uint32_t kRed = kSum + 2 * 4 * 16 * 4;          // [wg][parity][warp][row] {m, w}: 2 KiB
  static constexpr uint32_t kSigmaK = kRed + 2 * 2 * 4 * 16 * 8;   // kRStages x 64 floats (producer)
  static constexpr uint32_t kQExp = kSigmaK + kRStages * 64 * 4;   // 16 int32: e of each Q row (kQExpNaN)
  static constexpr uint32_t kTileNan = kQExp + 16 * 4;            // [wg][parity][warp] u32: raw S^T had a NaN
  static constexpr uint32_t kBarFull = kTileNan + 2 * 2 * 4 * 4;
  static constexpr uint32_t kBarEmpty = kBarFull + 8 * kRStages;
  static constexpr uint32_t kBarQFull = kBarEmpty + 8 * kRStages;
  static constexpr uint32_t kBarQEmpty = kBarQFull + 8;
  static constexpr uint32_t kBarRed = kBarQEmpty + 8;  // 2 (one per attend WG), 128 arrivals each
  static constexpr uint32_t kBarP = kBarRed + 16;      // 2 (one per attend WG), 128 arrivals each
  static constexpr uint32_t kEnd = kBarP + 16;
  static constexpr uint32_t kDynamicBytes = kEnd + 1024;  // slack to align the base
  static_assert(kDynamicBytes <= 232448, "more than the 227 KiB a CTA may use");
  static_assert(kKV % 1024 == 0 && kP % 1024 == 0, "swizzle atoms need 1024-byte alignment");
};

// Arrivals: a stage is read by one attend warpgroup (every thread arrives:
// racecheck releases a thread's accesses at its own arrive,
// docs/cuda_design.md); the Q by both.
constexpr uint32_t kFp8rEmptyArrivals = kWarpgroupThreads;
constexpr uint32_t kFp8rQEmptyArrivals = 2 * kWarpgroupThreads;

// Named barriers of the two attend warpgroups (256 threads, barrier.sync on
// both sides, met in the same order by both: per request QReady, per item
// MergeReady then MergeFree).
constexpr uint32_t kBarRQReady = 4;     // WG 1 converted the request's Q (and q_exp)
constexpr uint32_t kBarRMergeReady = 5; // both wrote their row sums, WG 2 its O^T, m and R
constexpr uint32_t kBarRMergeFree = 6;  // WG 1 read them

}  // namespace mla::cuda_impl::sm90
