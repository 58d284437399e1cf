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
// pipeline depth. "big" needs ~153 KiB (sm_80, sm_87, sm_90); "small" fits
// the 99 KiB of sm_86 / sm_89.
struct PortableConfig {
  int tile_n;  // keys per shared-memory tile (multiple of 16, divides kBlockN)
  int stages;  // shared-memory K tiles in flight (bf16 KV through cp.async); fp8 KV uses one
};
constexpr PortableConfig kPortableBig{32, 2};
constexpr PortableConfig kPortableSmall{16, 1};

// Shared-memory K buffers: BF16 KV streams through `stages` cp.async buffers;
// FP8 KV is staged in registers (decoded on the way in) and uses one.
constexpr int portable_smem_stages(int kv_format, PortableConfig cfg) {
  return kv_format == MLA_FORMAT_BF16 && cfg.stages > 1 ? cfg.stages : 1;
}

// Bytes of dynamic shared memory of the portable kernel.
constexpr int portable_smem_bytes(int tile_n, int smem_stages) {
  return 64 * kSmemRowPitch                        // Q tile (kBlockM rows)
         + smem_stages * tile_n * kSmemRowPitch    // K tiles
         + 64 * (tile_n * 2 + 16)                  // P tile (BF16, padded)
         + kPortableWarpsN * 64 * 4                // per-column-group row max / row sum exchange
         + smem_stages * tile_n * 4                // sigma_k of the keys of each tile
         + 64 * 4;                                 // sigma_q of each row
}

}  // namespace mla::cuda_impl
