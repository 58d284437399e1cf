// sm90_fp8_config.cuh - the shape of the sm_90a decode kernel for an
// fp8_rope640 KV cache (Q either fp8_rope640 or bf16): shared-memory map,
// barrier ids and arrival counts. Thread roles and register budgets are those
// of the BF16 kernel (sm90_config.cuh):
//   WG 0 "producer": Q tile, then 64-key tiles of 640-byte rows (TMA whole
//        page runs or cp.async rows) and their 64 per-key scales, 2 stages.
//   WG 1 "softmax":  S = Q.K^T, scales, mask, online softmax, O[:, 0:256].
//        Content in BF16 against the BF16 copy of the tile (below), rope
//        straight from the FP8 tile (its rope is BF16 already). An fp8 Q is
//        turned into BF16 codes once per request, in place (kQFp8Off): the
//        FP8 tensor cores' accumulation (QGMMA: the accumulator and every
//        aligned product truncated to 13-14 bits, each k32 step) failed the
//        accuracy tests on the H200 (worst error 3.9x the tolerance), while
//        E4M3 x E4M3 products are exact in BF16 HGMMA's fp32 accumulation.
//   WG 2 "helper":   converts the tile's 512 E4M3 content columns to BF16 once
//        (shared by every row of the M tile), then O[:, 256:512].
// P.V runs in BF16 for both pairs: V = sigma_k * content with sigma_k folded
// into P (fp32) before P is rounded to BF16, V read from the BF16 copy with
// the transpose bit (FP8 wgmma has none, so FP8 P.V would need a byte
// transpose of every tile, and FP8 P would cost 2^-4 relative per weight).
#pragma once

#include <cstdint>

#include "sm90_config.cuh"

namespace mla::cuda_impl::sm90 {

// A 640-byte row in shared memory: 5 column blocks of [64 rows][128 B], the
// same 128-byte swizzle as the BF16 tile (swizzled_chunk_offset): blocks 0-3
// hold the 512 E4M3 content bytes (128 values a block), block 4 the 64 BF16
// rope values. So an FP8 k-step (32 values) and a BF16 k-step (16 values)
// are both 32 bytes and walk a block the same way.
constexpr uint32_t kFp8RowBytes = 640;
constexpr uint32_t kFp8ChunksPerRow = 40;
constexpr uint32_t kFp8ContentBlocks = 4;
constexpr uint32_t kFp8RopeBlock = 4;
constexpr uint32_t kFp8TileBytes = 5 * kColBlockBytes;  // 40 KiB
constexpr uint32_t kBf16ContentBytes = 8 * kColBlockBytes;  // 64 keys x 512 BF16: the converted content

// Where an fp8_rope640 Q tile lands inside the BF16 Q tile (column blocks 4-8):
// its rope (block 4 of the FP8 row) is then block 8, where the BF16 layout
// keeps the rope, and the content's conversion (FP8 block j -> BF16 blocks
// 2j, 2j + 1) only overwrites FP8 blocks that were read before.
constexpr uint32_t kQFp8Off = 4 * kColBlockBytes;

// One layout for both Q formats (an fp8 Q is converted to BF16 in place).
template <bool kQFp8>
struct Fp8Smem {
  static constexpr uint32_t kQBytes = kTileBytes;
  static constexpr uint32_t kQ = 0;
  static constexpr uint32_t kKV = kQ + kQBytes;                   // kStages FP8 tiles
  static constexpr uint32_t kV = kKV + kStages * kFp8TileBytes;   // BF16 content of the current tile
  static constexpr uint32_t kP = kV + kBf16ContentBytes;          // P: 64 x 64 BF16, swizzled
  static constexpr uint32_t kScale = kP + 64 * 128;               // 64 floats: row rescale of this tile
  static constexpr uint32_t kInvSum = kScale + 64 * 4;            // 2 x 64 floats, per item parity
  static constexpr uint32_t kSigmaK = kInvSum + 2 * 64 * 4;       // kStages x 64 floats: sigma_k per key
  static constexpr uint32_t kSigmaS = kSigmaK + kStages * 64 * 4; // 64 floats: WG 2's copy of sigma_k (NaN-aware)
  static constexpr uint32_t kRowF = kSigmaS + 64 * 4;             // 64 floats: sigma_q * scale * log2(e) per row
  static constexpr uint32_t kQNan = kRowF + 64 * 4;               // 4 words: fp8 Q rows with a NaN code
  static constexpr uint32_t kBarFull = kQNan + 4 * 4;
  static constexpr uint32_t kBarEmpty = kBarFull + 8 * kStages;
  static constexpr uint32_t kBarQFull = kBarEmpty + 8 * kStages;
  static constexpr uint32_t kBarQEmpty = kBarQFull + 8;
  static constexpr uint32_t kEnd = kBarQEmpty + 8;
  static constexpr uint32_t kDynamicBytes = kEnd + 1024;  // slack to align the base
  static_assert(kDynamicBytes <= 232448, "more than the 227 KiB a CTA may use");
  static_assert(kKV % 1024 == 0 && kV % 1024 == 0 && kP % 1024 == 0, "swizzle atoms need 1024-byte alignment");
};

// Register budgets after setmaxnreg: the consumers here hold a little more
// than the BF16 kernel's (216 made ptxas spill); the producer's bookkeeping
// fits in 56. The CTA's 384 x 168 launch registers cover exactly
// 128 x 56 + 256 x 224.
constexpr uint32_t kFp8ProducerRegs = 56;
constexpr uint32_t kFp8ConsumerRegs = 224;
static_assert(kWarpgroupThreads * kFp8ProducerRegs + kConsumerThreads * kFp8ConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg budgets exceed the CTA's registers");

// Named barriers between the consumer warpgroups beyond those of
// sm90_config.cuh (1-3: P ready, P free, item end).
constexpr uint32_t kBarVReady = 4;  // WG 2 wrote the BF16 content (and logit factors) of the tile
constexpr uint32_t kBarVFree = 5;   // WG 1's P.V on the BF16 content finished: WG 2 may overwrite it
constexpr uint32_t kBarQConv = 6;   // WG 1 alone: the in-place conversion of an fp8 Q tile

}  // namespace mla::cuda_impl::sm90
