// sm90_fp8t_config.cuh - the rows-split form of the M = 64 sm_90a kernel for
// (fp8_rope640 Q, fp8_rope640 KV).
//
// Why: in the register-V kernel (sm90_fp8v_config.cuh) warpgroup 1 runs S,
// the softmax and its O^T share one after the other for all 64 rows, and
// the tensor cores idle through its softmax (H200 clock profile, H128 q2:
// S 1211, softmax 1489, O^T 1258 cycles a tile). Here the two consumer
// warpgroups split the tile's query ROWS instead of O's value dims: each
// owns 32 rows and runs the whole chain on every tile for them, so one
// warpgroup's softmax runs under the other's MMAs. The cost: both convert
// all of V^T (each needs every value dim for its rows).
//
// Roles (384 threads):
//   WG 0 "producer": fp8_producer_loop with this layout (the FP8 Q tile as
//        loaded, then 64-key FP8 tiles and sigma_k into kTStages stages).
//   WG 1, WG 2 "attend" (sm90_fp8t_attend_wg.cuh), rows 32 a .. 32 a + 31
//        of the M tile (a = 0, 1), each per tile:
//        S^T = K.Q^T (m64n32: M = the 64 keys, N = its 32 rows): the rope on
//        the BF16 cores, the content on the FP8 tensor cores (QGMMA
//        m64n32k32, A = the FP8 tile, B = the FP8 Q rows, both as loaded),
//        promoted to fp32 every 2 k-steps (the register-V kernel's rule)
//        -> the transposed softmax: each thread holds 2 keys of 8 rows; a
//        row's max and R come from a reduction over the warp's lanes
//        (shuffles) and the 4 warps (shared memory), and warp 0 (lane l =
//        row 32 a + l) keeps the row's running max m and R in registers
//        -> P'^T = (P * sigma_k / R)^T, FP16, into the warpgroup's own buffer
//        -> O^T += V^T.P'^T (m64n32k16, fp8v_pv: V^T from registers by
//        ldmatrix.trans + cvt, a NaN code made -448 as there), releasing the
//        stage after its last fragment load.
//   A warpgroup whose 32 rows are all padding (H x q_len tiles of <= 32
//   rows) only turns the ring.
// The warpgroups meet nowhere but the ring: each has its own barriers and
// buffers.
#pragma once

#include <cstdint>

#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"

namespace mla::cuda_impl::sm90 {

constexpr uint32_t kTStages = 4;  // FP8 stages in flight
constexpr uint32_t kTRows = 32;   // query rows of one attend warpgroup

// O^T's V^T fragment buffers in fp8v_pv (2: m-tile i converts while m-tile
// i - 1 multiplies).
#ifndef MLA_SM90_FP8T_BUFS
#define MLA_SM90_FP8T_BUFS 2
#endif
constexpr uint32_t kFp8tBufs = MLA_SM90_FP8T_BUFS;

// Both attend warpgroups get what the producer gives back: (384 x 168 -
// 128 x 56) / 256 = 224.
constexpr uint32_t kFp8tAttendRegs = (kThreads * kLaunchRegs / kWarpgroupThreads - kFp8ProducerRegs) / 2 / 8 * 8;
static_assert(kWarpgroupThreads * (kFp8ProducerRegs + 2 * kFp8tAttendRegs) <= kThreads * kLaunchRegs,
              "setmaxnreg budgets exceed the CTA's registers");

struct Fp8tSmem {
  static constexpr uint32_t kQ = 0;                               // the FP8 Q tile as loaded (40 KiB)
  static constexpr uint32_t kQLoad = kQ;                          // where the producer puts it
  static constexpr uint32_t kKV = kQ + kFp8TileBytes;             // kTStages FP8 tiles
  static constexpr uint32_t kP = kKV + kTStages * kFp8TileBytes;  // P'^T of WG a at kP + 4096 a: [32 rows][64 keys] FP16, swizzled
  static constexpr uint32_t kSigmaK = kP + 2 * 4096;              // kTStages x 64 floats (producer)
  // Per attend warpgroup a (offset a x kWgBytes):
  static constexpr uint32_t kWg = kSigmaK + kTStages * 64 * 4;
  static constexpr uint32_t kRed = 0;         // [4 warps][32 rows] {max, max + lg2|sigma_k|} of a tile
  static constexpr uint32_t kRowOut = 1024;   // [32 rows] {shift, 1 / R, alpha, O's rescale} of a tile
  static constexpr uint32_t kRowF = 1536;     // [32 rows] sigma_q * scale * log2(e) (0: padding)
  static constexpr uint32_t kRowKeys = 1664;  // [32 rows] {lo, hi}: visible keys within the item
  static constexpr uint32_t kAll = 1920;      // {largest lo, smallest hi} over the valid rows
  static constexpr uint32_t kSums = 1936;     // [4 warps][32 rows] row sums of an item
  static constexpr uint32_t kInvSum = 2448;   // [32 rows] R / sum (read as tile rows 32 a..)
  static constexpr uint32_t kWgBytes = 2576;
  static constexpr uint32_t kBarFull = kWg + 2 * kWgBytes;
  static constexpr uint32_t kBarEmpty = kBarFull + 8 * kTStages;
  static constexpr uint32_t kBarQFull = kBarEmpty + 8 * kTStages;
  static constexpr uint32_t kBarQEmpty = kBarQFull + 8;
  static constexpr uint32_t kEnd = kBarQEmpty + 8;
  static constexpr uint32_t kDynamicBytes = kEnd + 1024;  // slack to align the base
  static_assert(kDynamicBytes <= 232448, "more than the 227 KiB a CTA may use");
  static_assert(kKV % 1024 == 0 && kP % 1024 == 0, "swizzle atoms need 1024-byte alignment");
  static_assert(kWgBytes % 16 == 0 && kWg % 16 == 0, "v4 accesses need 16-byte alignment");
};

// Arrivals that release a stage: every thread of both attend warpgroups
// (both read it; racecheck releases a thread's accesses at its own arrive).
// The Q: the same (both warpgroups' wgmma read it).
constexpr uint32_t kFp8tEmptyArrivals = kConsumerThreads;
constexpr uint32_t kFp8tQEmptyArrivals = kConsumerThreads;

// Named barriers, 128 threads each, of attend warpgroup a: ids
// kBarTBase + 3 a + {0, 1, 2}: Red (the tile's per-warp maxima written; at
// an item's start: the row table written), RowOut (warp 0 wrote the rows'
// factors; at an item's end: 1 / sum), PReady (P'^T written).
constexpr uint32_t kBarTBase = 8;

}  // namespace mla::cuda_impl::sm90
