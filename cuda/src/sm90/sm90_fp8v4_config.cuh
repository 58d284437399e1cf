// sm90_fp8v4_config.cuh - a variant of the three-consumer fp8-KV kernel
// (sm90_fp8v3_config.cuh) for (fp8_rope640 Q, fp8_rope640 KV), M = 64 tiles,
// whose two P.V warpgroups compute O = P'.V (not O^T = V^T.P'^T) from an
// FP16 copy of their half of V in shared memory. Off unless
// MLA_SM90_FP8V4=1 (sm90_decode_fp8.cu); written at the end of the twelfth
// session with no device time left: NOT yet run on a GPU.
//
// Why (the twelfth session's profile of the three-consumer kernel, H200,
// H128 q2, cycles a tile): its P.V warpgroups spend ~2,250-2,530 cycles on 4
// O^T m-tiles each: 16 ldmatrix.trans, 32 byte permutes, 64 cvt and 64 max
// a thread, and 16 small m64n64k16 wgmma whose latency the one fragment
// buffer exposes (2 buffers do not fit: C7512), while WG 1's S and softmax
// stretch by what those warpgroups issue beside them. Here each P.V
// warpgroup converts its 256 value dims of the tile (64 keys x 256 codes:
// 8 16-byte chunks a thread, a byte permute, a shift and a lop3 per pair:
// sm90_fp8_tile.cuh) into FP16 in shared memory once, then runs 8
// m64n128k16 wgmma (P' from shared memory, MN-major B; m64n256 does not
// compile under the 128 registers of a 512-thread launch, C7602), one
// commit and one wait a tile. O's 64 x 256 accumulators are the same 128 registers as
// 4 O^T m-tiles, without the 16-register fragment buffer.
// Predictions (to check with tools/device/fp8v4_check.sh): P.V warpgroups
// ~1,200-1,500 cycles a tile (from ~2,300-2,500); WG 1 unchanged or a
// little faster (fewer instructions issued beside it); H128 q2 ~560-610 us
// against the three-consumer kernel's 628-633. The larger step it opens:
// the P.V warpgroups need fewer registers (168 compiles), which go to WG 1
// for S of tile t + 1 under the softmax of tile t (MLA_SM90_FP8V4_OVERLAP,
// sm90_fp8v4_softmax_wg.cuh).
//
// Costs: the FP16 copy takes 64 KiB of shared memory (32 KiB a warpgroup),
// so the ring has 2 FP8 stages, not 4; V's FP16 values are the codes times
// 2^-8 (exact, subnormals included; a NaN code becomes +-480 x 2^-8, finite,
// and its key's NaN logit makes the row NaN as in the other kernels), so the
// output takes R x 2^8 / sum.
//
// Roles (512 threads, 4 warpgroups):
//   WG 0: fp8_producer_loop with this layout (kV4Stages stages).
//   WG 1: the three-consumer kernel's (fp8v3_softmax_wg_loop_in with this
//         layout): S, softmax, P' into buffer tile % 2, PReady / PFree.
//   WG 2, 3 (w = 0, 1): value dims [256 w, 256 w + 256): per tile: wait for
//         the stage, convert its 16 FP8 chunks a row of those dims into the
//         warpgroup's FP16 copy, fence, release the stage, a 128-thread named
//         barrier (every part of the copy written before the wgmma read it),
//         wait PReady, rescale O (skipped when every factor of the warp is
//         1), 8 wgmma, wait for them, the named barrier again (every warp's
//         reads of the copy done), at an item's last tile the output, arrive
//         PFree.
#pragma once

#include <cstdint>

#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8v3_config.cuh"

namespace mla::cuda_impl::sm90 {

constexpr int kV4Threads = 512;
constexpr uint32_t kV4Stages = 2;  // FP8 stages: the FP16 copy takes the room of two more

// MLA_SM90_FP8V4_OVERLAP=1: WG 1 computes S of tile t + 1 under the softmax
// of tile t (sm90_fp8v4_softmax_wg.cuh; NOT yet run on a GPU either).
#ifndef MLA_SM90_FP8V4_OVERLAP
#define MLA_SM90_FP8V4_OVERLAP 0
#endif
constexpr bool kV4Overlap = MLA_SM90_FP8V4_OVERLAP != 0;

// setmaxnreg: producer 24, WG 1 as in the three-consumer kernel (152 with
// the overlap: two S and one promotion accumulator), the P.V warpgroups the
// rest (O 128 + the conversion's 16-byte chunks; 168 compiles without C75xx).
#ifndef MLA_SM90_FP8V4_SOFTMAX_REGS
#define MLA_SM90_FP8V4_SOFTMAX_REGS (MLA_SM90_FP8V4_OVERLAP ? 152 : 136)
#endif
constexpr uint32_t kV4ProducerRegs = 24;
constexpr uint32_t kV4SoftmaxRegs = MLA_SM90_FP8V4_SOFTMAX_REGS;
constexpr uint32_t kV4PvRegs = (512 - kV4ProducerRegs - kV4SoftmaxRegs) / 2 / 8 * 8;
static_assert(kV4ProducerRegs + kV4SoftmaxRegs + 2 * kV4PvRegs <= 512, "setmaxnreg budgets exceed the CTA's registers");
static_assert(kV4SoftmaxRegs % 8 == 0 && kV4SoftmaxRegs >= 128 && kV4SoftmaxRegs <= 256 && kV4PvRegs >= 128 &&
                  kV4PvRegs <= 256,
              "setmaxnreg: the consumers claim 128..256, by 8");

// Named barriers of this kernel (its other hand-offs are mbarriers): id
// 1 + w, P.V warpgroup w's 128 threads, twice a tile: its FP16 copy is
// complete (before the wgmma read it), and every warp's wgmma has finished
// reading it (before the next conversion overwrites it: wgmma.wait_group
// covers the calling warp's own wgmma only).
constexpr uint32_t kBarV4CopyReady0 = 1;
// With the overlap, id 3: WG 1's copy of a tile's sigma_k is whole (128 threads).
constexpr uint32_t kBarV4SoftmaxWg = 3;

// The members fp8v3_softmax_wg_loop_in and fp8_producer_loop read are those
// of Fp8v3Smem, at other offsets; kVCopy is new.
struct Fp8v4Smem {
  static constexpr uint32_t kQ = 0;                                  // the FP8 Q tile as loaded (40 KiB)
  static constexpr uint32_t kQLoad = kQ;
  static constexpr uint32_t kKV = kQ + kFp8TileBytes;                // kV4Stages FP8 tiles
  static constexpr uint32_t kVCopy = kKV + kV4Stages * kFp8TileBytes;  // 8 blocks [64 keys][64 FP16 dims], swizzled
  static constexpr uint32_t kP = kVCopy + kBf16ContentBytes;         // 2 x P': 64 rows x 64 keys FP16, swizzled
  static constexpr uint32_t kScale = kP + 2 * 64 * 128;              // 2 x 64 floats: O's rescale of the tile
  static constexpr uint32_t kInvSum = kScale + 2 * 64 * 4;           // 2 x 64 floats: R / sum at an item's last tile
  static constexpr uint32_t kSigmaK = kInvSum + 2 * 64 * 4;          // kV4Stages x 64 floats (producer)
  static constexpr uint32_t kRowF = kSigmaK + kV4Stages * 64 * 4;    // 64 floats: sigma_q * scale * log2(e)
  static constexpr uint32_t kZero = kRowF + 64 * 4;                 // 64 zero floats
  static constexpr uint32_t kSkCopy = kZero + 64 * 4;               // 2 x 64 floats: WG 1's sigma_k (overlap)
  static constexpr uint32_t kProfSlots = MLA_SM90_FP8_PROFILE ? 8 * kFp8ProfWgs : 0;
  static constexpr uint32_t kProf = kSkCopy + 2 * 64 * 4;
  static constexpr uint32_t kBarFull = kProf + 8 * kProfSlots;
  static constexpr uint32_t kBarEmpty = kBarFull + 8 * kV4Stages;
  static constexpr uint32_t kBarQFull = kBarEmpty + 8 * kV4Stages;
  static constexpr uint32_t kBarQEmpty = kBarQFull + 8;
  static constexpr uint32_t kBarPReady = kBarQEmpty + 8;
  static constexpr uint32_t kBarPFree = kBarPReady + 16;
  static constexpr uint32_t kEnd = kBarPFree + 16;
  static constexpr uint32_t kDynamicBytes = kEnd + 1024;  // slack to align the base
  static_assert(kDynamicBytes <= 232448, "more than the 227 KiB a CTA may use");
  static_assert(kKV % 1024 == 0 && kVCopy % 1024 == 0 && kP % 1024 == 0, "swizzle atoms need 1024-byte alignment");
};

// Arrivals: as the three-consumer kernel's (kV3*Arrivals): a stage is
// released by every thread of WG 1, 2 and 3; PReady by WG 1, PFree by WG 2
// and 3.

}  // namespace mla::cuda_impl::sm90
