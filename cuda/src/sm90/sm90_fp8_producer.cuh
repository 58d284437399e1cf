// sm90_fp8_producer.cuh - warpgroup 0 of the fp8-KV kernel: brings the Q
// tile and the 64-key tiles of 640-byte rows, with their per-key scales, into
// shared memory (layout in sm90_fp8_config.cuh).
//
// Same scheme as the BF16 producer (sm90_producer.cuh): a tile is cut into
// runs of box_rows rows sharing a page; a run whose rows are all readable
// goes through TMA (one box of its 8-row groups in the row-group layout,
// kFp8KvRowGroups; else 5 boxes of 128 bytes x box_rows rows over a uint8
// view of the pool), the rest row by row with 16-byte cp.async, zero-filling rows
// past the item's keys, past max_pages or on a page id outside [0,
// num_pages) (never read; the last case also sets MLA_STATUS_BAD_PAGE_ID).
// The 64 scales of a tile go through 4-byte cp.async, zero for unreadable
// keys, so a zero row carries sigma = 0 and stays finite everywhere.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_items.cuh"
#include "sm90_producer.cuh"
#include "sm90_sync.cuh"
#include "sm90_tma.cuh"

namespace mla::cuda_impl::sm90 {

// 4 bytes global -> shared through L1 (.ca: the only cp.async that takes 4);
// src_bytes = 0 writes a zero and reads nothing.
__device__ __forceinline__ void cp_async_4(uint32_t dst, const void* src, uint32_t src_bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}

// One 640-byte row with the whole warp: 40 chunks = a warp-wide run, then 8
// lanes. kKvTile: the row goes into a KV tile (fp8_kv_chunk_offset), else
// into a Q tile (column blocks).
template <bool kKvTile>
__device__ __forceinline__ void copy_row_fp8(uint32_t tile, uint32_t row, const uint8_t* src, uint32_t bytes,
                                             uint32_t lane) {
  const auto offset = [row](uint32_t chunk) {
    return kKvTile ? fp8_kv_chunk_offset(row, chunk) : swizzled_chunk_offset(row, chunk);
  };
  cp_async_16_sized(tile + offset(lane), src + lane * 16, bytes);
  if (lane < kFp8ChunksPerRow - 32) cp_async_16_sized(tile + offset(lane + 32), src + (lane + 32) * 16, bytes);
}

// Where one key's row and scale come from: its row index in the pool (and in
// the scales pool), or -1 when it is not readable (zeros instead).
__device__ __forceinline__ int64_t fp8_row_slot(const DecodeParams& p, const int32_t* pages, int32_t key,
                                                int32_t key_hi) {
  int64_t slot = -1;
  if (key < key_hi) {
    const int32_t page_index = key >> p.page_shift;
    if (page_index < p.max_pages) {
      const int32_t page = __ldg(pages + page_index);
      if (page >= 0 && page < p.num_pages) {
        slot = int64_t(page) * p.page_size + (key & (p.page_size - 1));
      } else {
        atomicOr(p.status, MLA_STATUS_BAD_PAGE_ID);  // the table changed after planning
      }
    }
  }
  return slot;
}

// Brings keys k0..k0+63 into `tile` and their scales into `sigma` (64
// floats). Lane l looks up keys l and l + 32 (every warp does, so each warp
// knows all 64 rows); warp 0 copies the scales; run j of `run_rows` rows
// belongs to warp j % 4. Every producer thread then arrives on `full` (one
// barrier a stage: a whole tile lands before any consumer reads it, so the
// row-group boxes, which carry every column block, change no arrival).
__device__ __forceinline__ void load_kv_tile_fp8(const DecodeParams& p, const CUtensorMap* kv_map,
                                                 int32_t box_rows, const int32_t* pages, int32_t k0,
                                                 int32_t key_hi, uint32_t tile, uint32_t sigma, uint32_t full,
                                                 uint32_t empty, uint32_t empty_parity, bool wait_empty) {
  const uint32_t lane = threadIdx.x & 31;
  const uint32_t warp = (threadIdx.x >> 5) & 3;
  // Page-table reads before waiting for the stage: they overlap the
  // consumers' work on the tile that still occupies it.
  const int64_t lo = fp8_row_slot(p, pages, k0 + int32_t(lane), key_hi);
  const int64_t hi = fp8_row_slot(p, pages, k0 + int32_t(lane) + 32, key_hi);
  const uint64_t readable = uint64_t(__ballot_sync(0xffffffffu, lo >= 0)) |
                            (uint64_t(__ballot_sync(0xffffffffu, hi >= 0)) << 32);
  if (wait_empty) mbar_wait(empty, empty_parity);

  if (warp == 0) {
    cp_async_4(sigma + 4 * lane, p.kv_scales + (lo >= 0 ? lo : 0), lo >= 0 ? 4u : 0u);
    cp_async_4(sigma + 4 * (lane + 32), p.kv_scales + (hi >= 0 ? hi : 0), hi >= 0 ? 4u : 0u);
  }
  const int32_t run_rows = box_rows > 0 ? box_rows : 16;
  const uint64_t run_bits = run_rows == 64 ? ~uint64_t(0) : ((uint64_t(1) << run_rows) - 1);
  uint32_t tma_runs = 0;  // bit j: run j goes through TMA
  if (box_rows > 0)
    for (int32_t j = int32_t(warp); j * run_rows < kKeys; j += 4) {
      const uint64_t bits = run_bits << (j * run_rows);
      if ((readable & bits) == bits) tma_runs |= 1u << j;
    }
  // Pool rows of this warp's runs' first keys, gathered before lane 0 issues.
  int32_t first_row[2] = {0, 0};
#pragma unroll
  for (int32_t k = 0; k < 2; ++k) {
    const int32_t row = (int32_t(warp) + 4 * k) * run_rows;
    const int32_t lo_row = __shfl_sync(0xffffffffu, int32_t(lo), row & 31);
    const int32_t hi_row = __shfl_sync(0xffffffffu, int32_t(hi), row & 31);
    first_row[k] = row < 32 ? lo_row : hi_row;  // the host enables TMA only when pool rows fit in int32
  }
  if (lane == 0) {
    mbar_arrive_expect_tx(full, uint32_t(__popc(tma_runs)) * uint32_t(run_rows) * 5u * 128u);
    for (int32_t k = 0; k < 2; ++k) {
      const int32_t j = int32_t(warp) + 4 * k;
      if (!((tma_runs >> j) & 1u)) continue;
      if constexpr (kFp8KvRowGroups) {  // the run's row groups, whole, in one box
        tma_load_row_groups(tile + uint32_t(j * run_rows) * kFp8RowBytes, kv_map, first_row[k] >> 3, full);
      } else {
        const uint32_t dst = tile + uint32_t(j * run_rows) * 128u;
#pragma unroll
        for (uint32_t cb = 0; cb < 5; ++cb)
          tma_load_2d(dst + cb * kColBlockBytes, kv_map, int32_t(cb * 128), first_row[k], full);
      }
    }
  }
  const uint8_t* pool = static_cast<const uint8_t*>(p.kv_pool);
  for (int32_t j = int32_t(warp); j * run_rows < kKeys; j += 4) {
    if ((tma_runs >> j) & 1u) continue;
    for (int32_t r = j * run_rows; r < (j + 1) * run_rows; ++r) {
      const int64_t slot = __shfl_sync(0xffffffffu, r < 32 ? lo : hi, r & 31);
      copy_row_fp8<true>(tile, uint32_t(r), pool + (slot >= 0 ? slot : 0) * int64_t(kFp8RowBytes),
                         slot >= 0 ? 16u : 0u, lane);
    }
  }
  cp_async_arrive_noinc(full);
}

// The Q rows of one M tile (640-byte rows, contiguous in Q); rows past
// `rows` become zeros. `dst`: column blocks 4-8 of the BF16 Q tile, which the
// softmax warpgroup converts in place (convert_q_tile_in_place).
__device__ __forceinline__ void load_q_tile_fp8(const DecodeParams& p, int64_t q_row0, int32_t rows, uint32_t dst,
                                                uint32_t full) {
  const uint32_t lane = threadIdx.x & 31;
  const uint32_t warp = (threadIdx.x >> 5) & 3;
  const uint8_t* q = static_cast<const uint8_t*>(p.q);
  for (uint32_t r = warp * 16; r < warp * 16 + 16; ++r) {
    const bool valid = int32_t(r) < rows;
    copy_row_fp8<false>(dst, r, valid ? q + (q_row0 + r) * int64_t(kFp8RowBytes) : q, valid ? 16u : 0u, lane);
  }
  cp_async_arrive_noinc(full);
}

// The producer's loop over the part's items, for any fp8-KV kernel: per
// request, after the consumers handed the previous Q back, load_q(v) loads
// the item's Q (and arrives on S::kBarQFull); per tile, its FP8 rows and
// sigma_k into stage tile_count % kNStages. S: the kernel's shared-memory
// layout, kNStages its FP8 stages, m_tile this CTA's M tile.
template <class S, uint32_t kNStages, class LoadQ>
__device__ __forceinline__ void fp8_producer_ring(const DecodeParams& p, const CUtensorMap* kv_map, int32_t box_rows,
                                                  uint32_t base, int32_t m_tile, LoadQ load_q) {
  uint32_t tile_count = 0, q_loads = 0;
  int32_t loaded_request = -1;
  // The part's end is read again per item (an L1 hit) rather than held: at 56
  // registers it was the value ptxas spilled.
  const volatile int32_t* part_end = p.part_begin + blockIdx.x + 1;
  for (int32_t index = p.part_begin[blockIdx.x]; index < *part_end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0 || v.n_tiles == 0) continue;
    if (v.request != loaded_request) {
      if (q_loads > 0) mbar_wait(base + S::kBarQEmpty, (q_loads - 1) & 1);
      load_q(v);
      ++q_loads;
      loaded_request = v.request;
    }
    const int32_t* pages = p.page_table + int64_t(v.request) * p.max_pages;
    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      if (page_prefetch_applies(p, v, t))
        prefetch_page_ids(p, pages, v.tile_base + (t + kPageIdPrefetch) * kKeys, v.key_hi);
      const uint32_t stage = tile_count % kNStages;
      const uint32_t round = tile_count / kNStages;
      load_kv_tile_fp8(p, kv_map, box_rows, pages, v.tile_base + t * kKeys, v.key_hi,
                       base + S::kKV + stage * kFp8TileBytes, base + S::kSigmaK + stage * 256,
                       base + S::kBarFull + 8 * stage, base + S::kBarEmpty + 8 * stage, (round - 1) & 1, round > 0);
    }
  }
  // Leave only once the consumers have released the last tiles: every
  // arrival this thread's copies trigger has then happened.
  for (uint32_t k = 0; k < kNStages && k < tile_count; ++k) {
    const uint32_t tile = tile_count - 1 - k;
    mbar_wait(base + S::kBarEmpty + 8 * (tile % kNStages), (tile / kNStages) & 1);
  }
}

// The M = 64 kernels' producer. S: the shared-memory layout (Fp8Smem, or
// Fp8vSmem of the register-V kernel), kNStages its FP8 stages; an FP8 Q
// lands at S::kQLoad.
template <bool kQFp8, class S = Fp8Smem<kQFp8>, uint32_t kNStages = uint32_t(kStages)>
__device__ __forceinline__ void fp8_producer_loop(const DecodeParams& p, const CUtensorMap* kv_map, int32_t box_rows,
                                                  uint32_t base, int32_t m_tile) {
  fp8_producer_ring<S, kNStages>(p, kv_map, box_rows, base, m_tile, [&](const ItemView& v) {
    if constexpr (kQFp8) {
      // Where WG 1 reads it (Fp8Smem: converts it in place). Computed here
      // in an asm so that ptxas does not keep it live across the loop (at
      // 56 registers that made it spill).
      uint32_t q_dst;
      asm volatile("add.u32 %0, %1, %2;" : "=r"(q_dst) : "r"(base), "n"(S::kQLoad));
      load_q_tile_fp8(p, v.q_row0, v.rows, q_dst, base + S::kBarQFull);
    } else {
      load_q_tile<kVariantFull>(p, v.q_row0, v.rows, base + S::kQ, base + S::kBarQFull);
    }
  });
}

}  // namespace mla::cuda_impl::sm90
