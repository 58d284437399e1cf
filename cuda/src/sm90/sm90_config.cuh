// sm90_config.cuh - the shape of the sm_90a decode kernel: thread roles,
// shared-memory map, barrier ids, and the 128-byte swizzle of the tiles.
//
// One CTA = 3 warpgroups (384 threads):
//   WG 0 "producer": cp.async gathers of Q and of 64-key KV tiles (any page
//        size: every row is looked up on its own) into a 2-stage ring.
//   WG 1 "softmax":  S = Q.K^T (wgmma, Q and K from shared memory), mask,
//        online softmax, O[:, 0:256] += P.V with P from registers; hands P
//        and the row rescale factors to WG 2 through shared memory.
//   WG 2 "helper":   O[:, 256:512] += P.V with P from shared memory.
// V is the first 512 columns of the K tile already in shared memory.
#pragma once

#include <cstdint>

// The kernel bodies exist only in the sm_90a device pass; the other passes of
// the fat binary (sm_80, sm_89, plain sm_90) compile empty stubs.
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ == 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define MLA_SM90_DEVICE 1
#else
#define MLA_SM90_DEVICE 0
#endif

namespace mla::cuda_impl::sm90 {

constexpr int kThreads = 384;
constexpr int kWarpgroupThreads = 128;
constexpr int kConsumerThreads = 256;  // WG 1 + WG 2, the parties of the named barriers
constexpr int kRows = 64;              // query rows per tile (wgmma M)
constexpr int kKeys = 64;              // keys per KV tile (wgmma N of S, K of P.V)
// MLA_SM90_STAGES: measurement builds only (1 stage: how the loads scale
// with the bytes in flight); the library and its tests use 2.
#ifndef MLA_SM90_STAGES
#define MLA_SM90_STAGES 2
#endif
constexpr int kStages = MLA_SM90_STAGES;

// Register budgets after setmaxnreg (multiples of 8). The CTA keeps the
// registers it was launched with, 384 x 168 (65536 / 384 rounded down to 8),
// so what the producer gives back must cover what the consumers claim: a
// claim beyond that waits forever. The producer's row bookkeeping spills
// below 64; the consumers fit in 216 without spills.
constexpr uint32_t kLaunchRegs = 168;
constexpr uint32_t kProducerRegs = 64;
constexpr uint32_t kConsumerRegs = 216;
static_assert(kWarpgroupThreads * kProducerRegs + kConsumerThreads * kConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg budgets exceed the CTA's registers");

// A tile of 64 rows x 576 BF16 lives as 9 column blocks of [64 rows][128 B];
// inside a block, the 16-byte chunk c of row r sits at chunk c ^ (r % 8)
// (the hardware's 128-byte swizzle, which wgmma reads and TMA would write).
constexpr uint32_t kRowBytes = 1152;       // 576 BF16
constexpr uint32_t kChunksPerRow = 72;     // 16-byte chunks of a row
constexpr uint32_t kColBlockBytes = 8192;  // 64 rows x 128 B
constexpr uint32_t kTileBytes = 9 * kColBlockBytes;

// Chunk `chunk` of row `row` in a tile whose 8-row groups are kGroupStride
// bytes apart and whose column blocks kBlockStride apart: row r at (r / 8)
// group strides + (r % 8) x 128, written as r x 128 + (r / 8) x (kGroupStride
// - 1024), which is the column-block formula term for term when kGroupStride
// is 1024 (and spilled less in the fp8v3 kernel than the direct form).
template <uint32_t kGroupStride, uint32_t kBlockStride>
__host__ __device__ constexpr uint32_t tile_chunk_offset(uint32_t row, uint32_t chunk) {
  return (chunk >> 3) * kBlockStride + row * 128u + (row >> 3) * (kGroupStride - 1024u) +
         (((chunk & 7u) ^ (row & 7u)) << 4);
}
__host__ __device__ constexpr uint32_t swizzled_chunk_offset(uint32_t row, uint32_t chunk) {
  return tile_chunk_offset<1024u, kColBlockBytes>(row, chunk);
}

// The KV tiles of the BF16 kernel are laid out by 8-row groups instead:
// group g = rows 8g..8g+7 holds its 9 column blocks side by side
// ([group][block][8 rows][128 B], 9216 bytes a group), so one TMA box brings
// whole groups, each 9216 contiguous bytes of a page, where the column-block
// layout needed nine boxes that each read 128 bytes of every row of the
// tile. wgmma reads either layout through the descriptor's strides (8-row
// groups 1024 or 9216 bytes apart, column blocks 8192 or 1024 apart); the
// swizzle is the same (rows at the same 128-byte lines of 1024-byte atoms).
// H200, `mla bench --mode layer`, B128 kv4096: H16 q1 159.3 -> 154.3 us,
// H32 159.2 -> 154.9, pages 16 / 32 / 256 -2.5 to -3.2%, H64 161.5 both,
// H128 284.0 -> 280.4 (docs/perf_notes.md, sixteenth session).
// MLA_SM90_KV_ROWGROUPS=0 builds the column-block layout (A/B).
#ifndef MLA_SM90_KV_ROWGROUPS
#define MLA_SM90_KV_ROWGROUPS 1
#endif
constexpr bool kKvRowGroups = MLA_SM90_KV_ROWGROUPS != 0;
constexpr uint32_t kKvGroupStride = kKvRowGroups ? 9u * 1024u : 1024u;     // bytes between 8-row groups
constexpr uint32_t kKvBlockStride = kKvRowGroups ? 1024u : kColBlockBytes;  // bytes between column blocks
__host__ __device__ constexpr uint32_t kv_chunk_offset(uint32_t row, uint32_t chunk) {
  return tile_chunk_offset<kKvGroupStride, kKvBlockStride>(row, chunk);
}
static_assert(kv_chunk_offset(63, 71) < kTileBytes && kv_chunk_offset(56, 64) == kTileBytes - 1024,
              "a KV tile holds 64 rows x 72 chunks");

// A stage's "landed" signal comes in kFullParts parts: column block cb of
// the tile lands on barrier block_part(cb) of the stage, so S = Q K^T starts
// on the first blocks while the later ones are still in flight (FlashMLA
// does the same, one barrier per block). 1 restores one barrier a stage.
// Only the column-block layout has parts to land: a row group carries every
// block, so with row groups the default is 1, which also leaves the two
// part-boundary wgmma fences out of S's k-step chain (H200, B128 kv4096 H16,
// layer mode, seventeenth session: page 1 207.9 -> 204.5 us, page 64 equal).
#ifndef MLA_SM90_FULL_PARTS
#define MLA_SM90_FULL_PARTS (MLA_SM90_KV_ROWGROUPS ? 1 : 3)
#endif
constexpr uint32_t kFullParts = MLA_SM90_FULL_PARTS;
static_assert(kFullParts >= 1 && kFullParts <= 9, "1 to 9 parts of the 9 column blocks");
// Parts a TMA-loaded tile lands in: a row group carries every column block, so
// the row-group layout lands whole (as the cp.async path does).
constexpr uint32_t kTmaParts = kKvRowGroups ? 1u : kFullParts;
__host__ __device__ constexpr uint32_t block_part(uint32_t cb) { return cb * kFullParts / 9; }
__host__ __device__ constexpr uint32_t part_blocks(uint32_t part) {
  uint32_t n = 0;
  for (uint32_t cb = 0; cb < 9; ++cb) n += block_part(cb) == part ? 1u : 0u;
  return n;
}

// Shared-memory map (byte offsets from a 1024-aligned base).
namespace smem {
constexpr uint32_t kQ = 0;
constexpr uint32_t kKV = kQ + kTileBytes;                 // kStages tiles
constexpr uint32_t kP = kKV + kStages * kTileBytes;       // P: 64 rows x 64 keys BF16, swizzled
constexpr uint32_t kScale = kP + 64 * 128;                // 64 floats: per-row rescale of this tile
constexpr uint32_t kInvSum = kScale + 64 * 4;             // 2 x 64 floats: 1 / softmax sum, per item parity
constexpr uint32_t kNanKeys = kInvSum + 2 * 64 * 4;       // 4 words: keys with a non-finite V (nonfinite.cuh)
constexpr uint32_t kNanFlag = kNanKeys + 4 * 4;           // 2 words: a tile has a non-finite raw logit (tile parity)
constexpr uint32_t kBarFull = kNanFlag + 2 * 4;           // [kStages][kFullParts] mbarriers: tile parts landed
constexpr uint32_t kBarEmpty = kBarFull + 8 * kStages * kFullParts;  // kStages mbarriers: tile consumed
constexpr uint32_t kBarQFull = kBarEmpty + 8 * kStages;   // Q tile landed
constexpr uint32_t kBarQEmpty = kBarQFull + 8;            // Q tile no longer read
constexpr uint32_t kEnd = kBarQEmpty + 8;
constexpr uint32_t kDynamicBytes = kEnd + 1024;  // slack to align the base
static_assert(kDynamicBytes <= 232448, "more than the 227 KiB a CTA may use");
}  // namespace smem

// Barrier `part` of a stage's "landed" signal.
__host__ __device__ constexpr uint32_t full_bar(uint32_t base, uint32_t stage, uint32_t part) {
  return base + smem::kBarFull + 8 * (stage * kFullParts + part);
}

// Arrivals each mbarrier waits for.
// KV tile (each part's barrier): every producer thread (cp.async noinc) + lane 0 of each producer
// warp (arrive.expect_tx for its TMA boxes, 0 bytes when it has none).
constexpr uint32_t kFullArrivals = kWarpgroupThreads + 4;
constexpr uint32_t kQFullArrivals = kWarpgroupThreads;  // Q tile: cp.async only
constexpr uint32_t kEmptyArrivals = 8;                  // lane 0 of each consumer warp
constexpr uint32_t kQEmptyArrivals = 4;                 // lane 0 of each softmax warp

// What a kernel variant leaves out: the library uses kVariantFull only; the
// dev harness times the others to see the load and compute pipelines apart.
enum Variant : int { kVariantFull = 0, kVariantNoCompute = 1, kVariantNoLoad = 2 };

// Development switches for timing (the dev harness and bisecting a
// regression: build with -Dcuda_args=-DMLA_SM90_...=...). The defaults are
// what the library ships and what the tests cover.
//  MLA_SM90_NONFINITE_CHECK 0: no per-tile non-finite-V probe (nonfinite.cuh);
//    breaks the NaN contract (rows that do not see a NaN key can turn NaN):
//    for timing only.
// (The bar.arrive hand-off variant was timed on the H200 and removed, third
// session: 178.7 us at H16 q1 vs 179.8, no gain. docs/perf_notes.md.)
#ifndef MLA_SM90_NONFINITE_CHECK
#define MLA_SM90_NONFINITE_CHECK 1
#endif

// Named barriers between the two consumer warpgroups.
constexpr uint32_t kBarPReady = 1;  // softmax WG wrote P and the rescale factors
constexpr uint32_t kBarPFree = 2;   // helper WG finished reading them
constexpr uint32_t kBarItemEnd = 3; // softmax WG wrote 1 / sum for the item
constexpr uint32_t kBarNanKeys = 4;  // rare path: softmax WG cleaned a tile's non-finite V rows

}  // namespace mla::cuda_impl::sm90
