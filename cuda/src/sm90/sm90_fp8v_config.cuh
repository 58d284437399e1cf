// sm90_fp8v_config.cuh - the register-V form of the M = 64 sm_90a kernel for
// (fp8_rope640 Q, fp8_rope640 KV): no FP16 copy of the tile, no conversion
// pass in shared memory.
//   WG 0 "producer": the FP8 Q tile (40 KiB, read as loaded), then 64-key
//        FP8 tiles and their per-key scales into kVStages stages
//        (fp8_producer_loop with this layout).
//   WG 1 "softmax":  S = Q.K^T: the 512 content values on the FP8 tensor
//        cores (QGMMA m64n64k32 e4m3, A = the FP8 Q, B = the FP8 tile, both as
//        loaded), promoted to fp32 every MLA_SM90_FP8V_PROMOTE = 2 k-steps
//        (Hopper's FP8 accumulation keeps ~13-14 bits; the small-H
//        kernel's rule; 4 is 15% faster but misses the accuracy bounds),
//        the 64 rope values on the BF16 cores into the same fp32 S; per-token
//        scales, mask, online softmax, P' to shared memory (FP16); then
//        O^T for value dims [0, 64 kFp8vWg1MTiles).
//   WG 2 "helper":   O^T for the other value dims.
// P.V runs as O^T = V^T.P^T (wgmma m64n64k16, FP16): A = V^T from registers,
// taken from the FP8 tile by ldmatrix.trans and converted by cvt (exact;
// a NaN code becomes -448, finite, so that a key hidden from a row meets
// P = 0, never 0 x NaN: a NaN code visible to a row already made that row's
// logit, and so its sum, NaN through S), B = P' (row-major P is P^T
// K-major). P' = P * sigma_k / R as in the FP16-copy kernel
// (softmax_tile_scaled): FP16 P, 2^-11 relative, against FP8 P's 2^-4 (the
// issue's other option, not taken: it would need a looser tolerance).
// Compared with that kernel (sm90_fp8_*: WG 2 converts the whole tile to
// FP16 in shared memory before S), the conversion leaves the serial chain
// and the 64 KiB copy leaves shared memory (4 stages instead of 2).
#pragma once

#include <cstdint>

#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"

namespace mla::cuda_impl::sm90 {

// S's content k-steps per promotion group (2: the small-H kernel's rule;
// 4, 8, 16: measurement builds). Each group ends in a wait for the group
// before it, so fewer groups are faster (H200, H128 q2, old softmax: 836 us
// at 2, 692 at 4; with the register softmax 783 / 671 / 645 / 640 at
// 2 / 4 / 8 / 16), but the FP8 tensor cores' accumulation then errs more:
// at 4 the CUDA vs Vulkan check saw 9-45 ULP (bound 8) and one LSE of the
// device-fault table missed by 3e-3 (0.8908 vs 0.8938); at 8, 1 reliability
// failure, at 16, 17. At 2 both suites and the reliability tables passed on
// two runs. So 2.
#ifndef MLA_SM90_FP8V_PROMOTE
#define MLA_SM90_FP8V_PROMOTE 2
#endif
static_assert(MLA_SM90_FP8V_PROMOTE == 2 || MLA_SM90_FP8V_PROMOTE == 4 || MLA_SM90_FP8V_PROMOTE == 8 ||
                  MLA_SM90_FP8V_PROMOTE == 16,
              "promotion every 2, 4, 8 or 16 k-steps");

// Lazy R (softmax_tile_scaled_by's kLazyLog2): R moves only when a tile's
// largest |weight| passes R * 2^MLA_SM90_FP8V_LAZY, so |P'| <= 2^8 and O's
// rescale (fp8v_rescale: the P.V warpgroups' 128-192 FMUL a tile, skipped
// per warp when every factor is 1) is rare after the first tiles; 0 gives
// R = the largest weight so far (|P'| <= 1) as before.
#ifndef MLA_SM90_FP8V_LAZY
#define MLA_SM90_FP8V_LAZY 8
#endif
constexpr int kFp8vLazyLog2 = MLA_SM90_FP8V_LAZY;

// FP8 stages in flight (A/B builds: -DMLA_SM90_FP8V_STAGES=N, 2..4).
#ifndef MLA_SM90_FP8V_STAGES
#define MLA_SM90_FP8V_STAGES 4
#endif
constexpr uint32_t kVStages = MLA_SM90_FP8V_STAGES;
static_assert(kVStages >= 2 && kVStages <= 4, "2 to 4 FP8 stages");

// O^T's 8 m-tiles (64 value dims each) between the consumers: WG 1 holds S
// and two promotion accumulators (96 registers) beside its share and runs
// the serial chain S -> softmax -> P', so it takes fewer: 2 (2 x 32 + 96 =
// 160 of its 208 registers); WG 2 the other 6 (192 + one V^T fragment
// buffer, 240 registers). 3 / 5 (240 / 208 registers) until the eleventh
// session: 2 / 6 is 2-3% faster at H = 64 and 128 (H200, same run: H128 q2
// 748 vs 769 us), WG 2 having time to spare under WG 1's chain.
#ifndef MLA_SM90_FP8V_WG1_MTILES
#define MLA_SM90_FP8V_WG1_MTILES 2
#endif
constexpr uint32_t kFp8vWg1MTiles = MLA_SM90_FP8V_WG1_MTILES;
constexpr uint32_t kFp8vWg2MTiles = 8 - kFp8vWg1MTiles;
// WG 2's V^T fragment buffers (fp8v_pv): one (two made ptxas serialize its
// wgmma for want of registers at 5 m-tiles and at 6, C7512).
#ifndef MLA_SM90_FP8V_WG2_BUFS
#define MLA_SM90_FP8V_WG2_BUFS 1
#endif
constexpr uint32_t kFp8vWg2Bufs = MLA_SM90_FP8V_WG2_BUFS;
static_assert(kFp8vWg1MTiles >= 1 && kFp8vWg1MTiles <= 4, "WG 1 takes 1 to 4 of the 8 O^T m-tiles");

// Register budgets after setmaxnreg, one per warpgroup: WG 1 (S, two
// promotion accumulators, 2 O^T m-tiles) at 208, WG 2 (6 m-tiles, one
// fragment buffer) the 240 left, both without spills (nvcc 13.0; WG 1 at
// 200 spilled 48 bytes, at 216 WG 2 serialized its wgmma, C7512). The CTA's
// 384 x 168 launch registers cover exactly 128 x (56 + 208 + 240).
#ifndef MLA_SM90_FP8V_SOFTMAX_REGS
#define MLA_SM90_FP8V_SOFTMAX_REGS 208
#endif
constexpr uint32_t kFp8vSoftmaxRegs = MLA_SM90_FP8V_SOFTMAX_REGS;
constexpr uint32_t kFp8vHelperRegs = kThreads * kLaunchRegs / kWarpgroupThreads - kFp8ProducerRegs - kFp8vSoftmaxRegs;
static_assert(kWarpgroupThreads * (kFp8ProducerRegs + kFp8vSoftmaxRegs + kFp8vHelperRegs) <= kThreads * kLaunchRegs,
              "setmaxnreg budgets exceed the CTA's registers");

struct Fp8vSmem {
  static constexpr uint32_t kQ = 0;                                 // the FP8 Q tile as loaded (40 KiB)
  static constexpr uint32_t kQLoad = kQ;                            // where the producer puts it
  static constexpr uint32_t kKV = kQ + kFp8TileBytes;               // kVStages FP8 tiles
  static constexpr uint32_t kP = kKV + kVStages * kFp8TileBytes;    // P': 64 rows x 64 keys FP16, swizzled
  static constexpr uint32_t kScale = kP + 64 * 128;                 // 64 floats: O's rescale of this tile
  static constexpr uint32_t kInvSum = kScale + 64 * 4;              // 2 x 64 floats, per item parity
  static constexpr uint32_t kSigmaK = kInvSum + 2 * 64 * 4;         // kVStages x 64 floats (producer)
  static constexpr uint32_t kRowF = kSigmaK + kVStages * 64 * 4;    // 64 floats: sigma_q * scale * log2(e)
  static constexpr uint32_t kProf = kRowF + 64 * 4;                // kFp8ProfSlots uint64 (MLA_SM90_FP8_PROFILE)
  static constexpr uint32_t kBarFull = kProf + 8 * kFp8ProfSlots;
  static constexpr uint32_t kBarEmpty = kBarFull + 8 * kVStages;
  static constexpr uint32_t kBarQFull = kBarEmpty + 8 * kVStages;
  static constexpr uint32_t kBarQEmpty = kBarQFull + 8;
  static constexpr uint32_t kEnd = kBarQEmpty + 8;
  static constexpr uint32_t kDynamicBytes = kEnd + 1024;  // slack to align the base
  static_assert(kDynamicBytes <= 232448, "more than the 227 KiB a CTA may use");
  static_assert(kKV % 1024 == 0 && kP % 1024 == 0, "swizzle atoms need 1024-byte alignment");
};

// Arrivals that release a stage: every consumer thread, after its last
// V^T fragment of the tile is in registers (both warpgroups read it with
// ldmatrix; racecheck releases a thread's accesses at its own arrive,
// docs/cuda_design.md). The Q: every thread of WG 1 (its wgmma read it).
constexpr uint32_t kFp8vEmptyArrivals = kConsumerThreads;
constexpr uint32_t kFp8vQEmptyArrivals = kWarpgroupThreads;

// Named barriers of the consumer warpgroups (barrier.sync on both sides, met
// in this order by both): per tile TileFree (t > 0: both O^T of the previous
// tile finished, so WG 1 may rewrite P' and the rescale factors), PReady (P'
// and the rescale factors written); per item ItemEnd (the 1 / sum of every
// row written; both warpgroups' O^T finished, so it is also the next item's
// first TileFree). The ids of sm90_config.cuh / sm90_fp8_config.cuh.
// kBarPReady = 1, kBarItemEnd = 3, kBarTileFree = 5.

}  // namespace mla::cuda_impl::sm90
