// sm90_fp8v3_config.cuh - the register-V M = 64 kernel for (fp8_rope640 Q,
// fp8_rope640 KV) with three consumer warpgroups: one that only computes S
// and the softmax, two that only compute O^T. The default for (fp8, fp8)
// M = 64 tiles since the twelfth session; MLA_SM90_FP8V3=0 gives them back
// to the two-consumer kernel (sm90_decode_fp8.cu).
//
// Measured (H200, twelfth session, clock profile at H128 q2, cycles a
// tile): the prediction below did not hold. WG 1: full 302, S 1253-1663,
// softmax 1327-1948, P' and hand-offs ~560, loop 311 (~4,300); WG 2 / 3:
// rescale 245-470, P.V 2200-2530, waiting for PReady 760-1180. S and the
// softmax each stretch by whatever the P.V warpgroups issue beside them
// (deferring PReady so P.V runs beside the softmax, not the S, moved the
// time from one to the other); ncu: tensor pipe 38.5%
// active, ALU 36%, XU 7%: no unit is saturated, WG 1's chain is latency
// bound and shares issue slots. Graph time H128 q2: 649-659 us (two-consumer
// 688-693), 628-633 with lazy R (649-654). Two fragment half-buffers in
// P.V and sigma_k in WG 1's registers each left the time unchanged (within
// 1%); those variants and the deferred PReady were removed again (the code:
// commit 5a1780b, docs/perf_notes.md, twelfth session).
//
// Why: in the two-consumer kernel (sm90_fp8v_config.cuh) warpgroup 1's chain
// S -> softmax -> P' -> its O^T share is serial and sets the time (H200,
// H128 q2, clock profile after the eleventh session, cycles a tile: S 1257,
// softmax 1322, P' and hand-offs 248, its 2 O^T m-tiles 1030, waits and loop
// ~520; warpgroup 2's 6 m-tiles take 2292 and it waits the rest). Taking
// O^T off warpgroup 1 entirely leaves it S + softmax + P' (~2,800 cycles
// predicted) while two warpgroups of 4 m-tiles each (~2,000 cycles each)
// run P.V of the previous tile: predicted H128 q2 ~430-470 us (680-690
// today). Double-buffered P' (two 8 KiB buffers, mbarrier hand-offs) lets
// warpgroup 1 run one tile ahead of the P.V warpgroups.
//
// Roles (512 threads, 4 warpgroups):
//   WG 0 "producer": fp8_producer_loop with this layout (the FP8 Q tile,
//        then FP8 tiles and sigma_k into kV3Stages stages).
//   WG 1 "softmax":  per tile: S (fp8v_s: rope BF16, content QGMMA promoted
//        every 2 k-steps), scales, mask, online softmax (fp8v_softmax_tile),
//        releases the stage (S and sigma_k were its only reads of it); then
//        waits for P' buffer b = tile % 2 to be free (PFree[b]), writes P',
//        O's rescale factors and, at an item's last tile, R / sum of every
//        row into buffer b, and arrives on PReady[b]. It writes the LSE.
//   WG 2, WG 3 "P.V": value dims [256 (w - 2), 256 (w - 2) + 256) (4 O^T
//        m-tiles of 64): per tile: wait for the stage (V^T fragments) and
//        PReady[b], rescale O^T, O^T += V^T.P'^T (fp8v_pv), releasing the
//        stage after the last fragment load; at an item's last tile write
//        the output with buffer b's R / sum; arrive on PFree[b].
// Registers: 512 threads leave 128 a thread at launch; setmaxnreg gives
// WG 0 kV3ProducerRegs, WG 1 kV3SoftmaxRegs and WG 2 / 3 kV3PvRegs, which
// must sum to at most 512 (the producer spills below 56 in the other
// kernels: it is the warpgroup that waits most).
#pragma once

#include <cstdint>

#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8v_config.cuh"

namespace mla::cuda_impl::sm90 {

constexpr int kV3Threads = 512;
constexpr uint32_t kV3Stages = 4;     // FP8 stages in flight
constexpr uint32_t kV3PvMTiles = 4;   // O^T m-tiles of each P.V warpgroup
// V^T fragment buffers of a P.V warpgroup (fp8v_pv: 2 = m-tile i converts
// while m-tile i - 1 multiplies; 2 made ptxas serialise the wgmma, C7512,
// at every register split tried).
#ifndef MLA_SM90_FP8V3_PV_BUFS
#define MLA_SM90_FP8V3_PV_BUFS 1
#endif

// Development switch for timing builds only (wrong results; never in the
// library): MLA_SM90_FP8V3_DEV = 1 drops S (WG 1 takes a constant S),
// 2 drops the softmax (P' = S as it is), 3 drops the P.V warpgroups'
// rescale and P.V (they still wait and release), 4 drops S and the softmax
// (the P.V warpgroups alone). Timed against the kernel in one call by
//   FP8V_VARIANTS="nos:-DMLA_SM90_FP8V3_DEV=1 nosm:-DMLA_SM90_FP8V3_DEV=2
//     nopv:-DMLA_SM90_FP8V3_DEV=3 pvonly:-DMLA_SM90_FP8V3_DEV=4" bash tools/device/fp8v_ab.sh
// the time without a piece, against the full kernel, says what that piece
// costs on the critical path with everything else beside it. The default
// (0) build's SASS is byte-identical to the kernel without the switch.
#ifndef MLA_SM90_FP8V3_DEV
#define MLA_SM90_FP8V3_DEV 0
#endif
constexpr int kV3Dev = MLA_SM90_FP8V3_DEV;
constexpr int kV3DevNoS = 1, kV3DevNoSoftmax = 2, kV3DevNoPv = 3, kV3DevPvOnly = 4;
static_assert(kV3Dev >= 0 && kV3Dev <= 4, "MLA_SM90_FP8V3_DEV: 0 (the kernel) or a timing variant 1-4");

// The split that compiles without C7512 (nvcc 13.0): producer 24, WG 1 136
// (S 32 + two promotion accumulators 64 + the softmax, sigma_k read from
// shared memory where used), WG 2 / 3 176 (4 x 32 accumulators, one V^T
// buffer); 172 bytes of spill in all (address constants: ~10 LDL a tile in
// a P.V warpgroup). WG 1 at 144 / 152 / 160 or the producer at 32 / 40 made
// ptxas serialise the wgmma.
#ifndef MLA_SM90_FP8V3_PRODUCER_REGS
#define MLA_SM90_FP8V3_PRODUCER_REGS 24
#endif
#ifndef MLA_SM90_FP8V3_SOFTMAX_REGS
#define MLA_SM90_FP8V3_SOFTMAX_REGS 136
#endif
constexpr uint32_t kV3ProducerRegs = MLA_SM90_FP8V3_PRODUCER_REGS;
constexpr uint32_t kV3SoftmaxRegs = MLA_SM90_FP8V3_SOFTMAX_REGS;
constexpr uint32_t kV3PvRegs = (512 - kV3ProducerRegs - kV3SoftmaxRegs) / 2 / 8 * 8;
static_assert(kV3ProducerRegs + kV3SoftmaxRegs + 2 * kV3PvRegs <= 512, "setmaxnreg budgets exceed the CTA's registers");
static_assert(kV3ProducerRegs % 8 == 0 && kV3SoftmaxRegs % 8 == 0 && kV3ProducerRegs >= 24, "setmaxnreg: 24..256, by 8");
// setmaxnreg.dec / .inc from the 128 a thread of the launch (512 threads).
static_assert(kV3ProducerRegs <= 128 && kV3SoftmaxRegs >= 128 && kV3PvRegs >= 128 && kV3SoftmaxRegs <= 256 &&
                  kV3PvRegs <= 256,
              "the producer gives registers back, the consumers claim them: 24..128 and 128..256");

struct Fp8v3Smem {
  static constexpr uint32_t kQ = 0;                                  // the FP8 Q tile as loaded (40 KiB)
  static constexpr uint32_t kQLoad = kQ;                             // where the producer puts it
  static constexpr uint32_t kKV = kQ + kFp8TileBytes;                // kV3Stages FP8 tiles
  static constexpr uint32_t kP = kKV + kV3Stages * kFp8TileBytes;    // 2 x P': 64 rows x 64 keys FP16, swizzled
  static constexpr uint32_t kScale = kP + 2 * 64 * 128;              // 2 x 64 floats: O's rescale of the tile
  static constexpr uint32_t kInvSum = kScale + 2 * 64 * 4;           // 2 x 64 floats: R / sum at an item's last tile
  static constexpr uint32_t kSigmaK = kInvSum + 2 * 64 * 4;          // kV3Stages x 64 floats (producer)
  static constexpr uint32_t kRowF = kSigmaK + kV3Stages * 64 * 4;    // 64 floats: sigma_q * scale * log2(e)
  static constexpr uint32_t kZero = kRowF + 64 * 4;                 // 64 zero floats: R / sum of rows that see no key
  static constexpr uint32_t kProfSlots = MLA_SM90_FP8_PROFILE ? 8 * kFp8ProfWgs : 0;
  static constexpr uint32_t kProf = kZero + 64 * 4;                 // kProfSlots uint64 (MLA_SM90_FP8_PROFILE)
  static constexpr uint32_t kBarFull = kProf + 8 * kProfSlots;
  static constexpr uint32_t kBarEmpty = kBarFull + 8 * kV3Stages;
  static constexpr uint32_t kBarQFull = kBarEmpty + 8 * kV3Stages;
  static constexpr uint32_t kBarQEmpty = kBarQFull + 8;
  static constexpr uint32_t kBarPReady = kBarQEmpty + 8;  // 2: P' buffer b written (WG 1)
  static constexpr uint32_t kBarPFree = kBarPReady + 16;  // 2: P' buffer b read (WG 2 and 3)
  static constexpr uint32_t kEnd = kBarPFree + 16;
  static constexpr uint32_t kDynamicBytes = kEnd + 1024;  // slack to align the base
  static_assert(kDynamicBytes <= 232448, "more than the 227 KiB a CTA may use");
  static_assert(kKV % 1024 == 0 && kP % 1024 == 0, "swizzle atoms need 1024-byte alignment");
};

// Arrivals: a stage is released by every thread of WG 1 (after its S and
// sigma_k loads) and of WG 2 and 3 (after their last V^T fragment load);
// the Q by WG 1 (its only reader); PReady[b] by WG 1, PFree[b] by WG 2 and 3
// (every thread: racecheck releases a thread's accesses at its own arrive,
// docs/cuda_design.md).
constexpr uint32_t kV3EmptyArrivals = 3 * kWarpgroupThreads;
constexpr uint32_t kV3QEmptyArrivals = kWarpgroupThreads;
constexpr uint32_t kV3PReadyArrivals = kWarpgroupThreads;
constexpr uint32_t kV3PFreeArrivals = 2 * kWarpgroupThreads;

}  // namespace mla::cuda_impl::sm90
