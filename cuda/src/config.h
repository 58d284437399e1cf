// cuda/src/config.h - the named constants of the CUDA backend: planner cost
// model, launch shapes of the planner and combine kernels, and the two
// configurations of the portable (mma.sync) decode kernel.
//
// Host and device code include it; the schedule granularity (kBlockM,
// kBlockN) lives in decode_params.h because the Hopper kernel shares it.
#pragma once

#include <cstdint>

#include "mla/constants.h"

namespace mla::cuda_impl {

// ---- planner ----
// One CTA computes the whole schedule (prefix sums over the batch).
constexpr int kPlannerThreads = 512;  // 128 registers a thread: no spills
// Cost model of the auto split: an item costs tiles x (kFixedCostBlocks +
// key blocks), in units of one M tile against one kBlockN key block. The
// fixed part stands for loading the Q tile (as many bytes as a 64-key block)
// and for the epilogue; FlashMLA's metadata uses a similar constant (5).
constexpr int kFixedCostBlocks = 4;
// Parts of the decode grid per SM (each part is one CTA column).
constexpr int kPartsPerSm = 1;
// Upper bound on parts whatever the device, so the workspace stays bounded.
constexpr int kMaxParts = 4096;

// ---- combine ----
// One warp merges one query row (512 columns, 16 per lane).
constexpr int kCombineWarps = 8;
constexpr int kCombineThreads = kCombineWarps * 32;
constexpr int kCombineCtasPerSm = 4;  // grid-stride loop over (request, row chunk) units
// Default combine kernel (combine.h): a request with at least this many
// splits gets a unit per (row, column part) whose 8 warps share the splits;
// below it, a unit per kCombineWarps rows with a warp per row.
constexpr int kCombineWideSplits = 9;
constexpr int kCombineColParts = 4;  // 512 columns = 4 parts of 128 (a float4 per lane)
constexpr int kCombineWideBatch = 4;   // loads of a warp's splits issued together in a wide unit (8 spills)
// CTAs a SM of the default kernel (__launch_bounds__ minimum: <= 80 registers,
// no spills) and its grid cap per SM.
constexpr int kCombineDefaultCtasPerSm = 3;
constexpr int kCombineTable = 2048;   // unit table entries staged in shared memory (else searched in global)

// ---- portable decode kernel (sm_80 / sm_86 / sm_89, and sm_90 until the Hopper kernel) ----
// 16 warps: 4 row groups of 16 query rows x 4 column groups. In Q.K^T a
// column group computes 8 keys of the tile; in P.V it owns 128 of the 512
// output columns (64 fp32 accumulators per thread).
constexpr int kPortableWarpsM = 4;
constexpr int kPortableWarpsN = 4;
constexpr int kPortableThreads = kPortableWarpsM * kPortableWarpsN * 32;
constexpr int kPortableColsPerWarp = MLA_DIM_V / kPortableWarpsN;  // 128
// A BF16 row of 576 values in shared memory, padded by 16 bytes so that the
// 8 row addresses of an ldmatrix fall into 8 different 16-byte bank groups.
constexpr int kSmemRowPitch = MLA_ROW_BYTES_BF16 + 16;

// The two shared-memory configurations: keys per shared-memory tile and
// pipeline depth. "big" needs up to ~161 KiB (sm_80, sm_87, sm_90); "small"
// fits the 99 KiB of sm_86 / sm_89 (portable_smem_layout below).
struct PortableConfig {
  int tile_n;  // keys per shared-memory tile (multiple of 16, divides kBlockN)
  int stages;  // shared-memory K tiles in flight (bf16 KV through cp.async); fp8 KV uses one
};
constexpr PortableConfig kPortableBig{32, 2};
constexpr PortableConfig kPortableSmall{16, 1};

// BF16 P tiles for P.V. FP8 KV carries a scale per cached row that is folded
// into P, and rows' scales differ by orders of magnitude: rounding P * sigma_k
// to BF16 then costs up to 2^-9 of the sum of softmax weight x |V| (not of the
// output's own size, as with unscaled rows), which exceeded the tests'
// tolerance on the GPU. For FP8 KV, P is therefore split into a BF16 high
// part and a BF16 remainder (P = hi + lo to about 2^-17) and P.V runs twice.
constexpr int portable_p_tiles(int kv_format) { return kv_format == MLA_FORMAT_BF16 ? 1 : 2; }

// The shared-memory map of the portable kernel (byte offsets), by KV format
// and configuration. How K tiles arrive:
//   BF16 KV, stages > 1: cp.async straight into `k_stages` BF16 tiles;
//   FP8 KV, stages > 1:  cp.async of the raw 640-byte rows (and sigma_k) into
//                        `raw_stages` buffers, decoded into one BF16 tile;
//   otherwise:           loaded into registers during the previous tile and
//                        stored (decoded) into one BF16 tile.
struct PortableSmemLayout {
  int k_stages, raw_stages, p_tiles;
  int off_q, off_k, off_p, off_red, off_kscale, off_qscale, off_raw, off_raw_scale, off_flags;
  int bytes;
};

constexpr PortableSmemLayout portable_smem_layout(int kv_format, PortableConfig cfg) {
  PortableSmemLayout l{};
  const bool bf16 = kv_format == MLA_FORMAT_BF16;
  l.k_stages = bf16 && cfg.stages > 1 ? cfg.stages : 1;
  l.raw_stages = !bf16 && cfg.stages > 1 ? cfg.stages : 0;
  l.p_tiles = portable_p_tiles(kv_format);
  l.off_q = 0;                                                    // Q tile, kBlockM rows
  l.off_k = l.off_q + 64 * kSmemRowPitch;                         // BF16 K tiles
  l.off_p = l.off_k + l.k_stages * cfg.tile_n * kSmemRowPitch;    // P tiles (BF16, padded rows)
  l.off_red = l.off_p + l.p_tiles * 64 * (cfg.tile_n * 2 + 16);   // row max / sum per column group
  l.off_kscale = l.off_red + kPortableWarpsN * 64 * 4;            // sigma_k of each BF16 tile's keys
  l.off_qscale = l.off_kscale + l.k_stages * cfg.tile_n * 4;      // sigma_q of each row
  l.off_raw = l.off_qscale + 64 * 4;                              // raw FP8 rows
  l.off_raw_scale = l.off_raw + l.raw_stages * cfg.tile_n * MLA_ROW_BYTES_FP8;
  l.off_flags = l.off_raw_scale + l.raw_stages * cfg.tile_n * 4;  // keys with a non-finite V (nonfinite.cuh)
  l.bytes = l.off_flags + 4;
  return l;
}

}  // namespace mla::cuda_impl
