// sm90_producer.cuh - warpgroup 0 of the sm_90a kernel: brings the Q tile and
// the 64-key KV tiles of each work item into shared memory, in the swizzled
// layout wgmma reads.
//
// A tile is cut into runs of box_rows rows that share a page (tiles are
// 64-aligned in key index, so a run never straddles pages):
//  - whole run readable and the TMA map present: one lane loads it with one
//    TMA box of whole 8-row groups (the row-group layout, sm90_config.cuh;
//    9 boxes, one per 64-column block, in the column-block layout), counted
//    on the stage's barrier in bytes;
//  - otherwise row by row with 16-byte cp.async, 32 lanes side by side over
//    the row's 72 chunks; a row past the item's keys, past max_pages or on a
//    page id outside [0, num_pages) is never read: the ignore-src form writes zeros,
//    so masked keys carry finite values into P.V.
// Pages of 1, 2 or 4 rows (box_rows = 0) use cp.async throughout, and so
// does Q (one tile per item, rows past the request become zeros).
#pragma once

#include <cuda.h>

#include <cstdint>

#include "../decode_params.h"
#include "../dev_timeline.cuh"
#include "../portable/ptx_sm80.cuh"
#include "sm90_config.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"
#include "sm90_tma.cuh"

namespace mla::cuda_impl::sm90 {

// copy_row's premise, checked for every row and lane of both tile kinds.
template <bool kKvTile>
constexpr bool copy_row_offsets_hold() {
  constexpr uint32_t kBlock = kKvTile ? kKvBlockStride : kColBlockBytes;
  for (uint32_t row = 0; row < 64; ++row)
    for (uint32_t lane = 0; lane < 32; ++lane)
      for (uint32_t k = 1; k < 3 && lane + 32 * k < kChunksPerRow; ++k) {
        const uint32_t chunk = lane + 32 * k;
        const uint32_t want = kKvTile ? kv_chunk_offset(row, chunk) : swizzled_chunk_offset(row, chunk);
        const uint32_t got = (kKvTile ? kv_chunk_offset(row, lane) : swizzled_chunk_offset(row, lane)) + 4 * k * kBlock;
        if (want != got) return false;
      }
  return true;
}
static_assert(copy_row_offsets_hold<true>() && copy_row_offsets_hold<false>(),
              "a lane's chunks l + 32 k lie 4 k column blocks after chunk l");

// Copies one row with the whole warp: 72 chunks = two warp-wide runs, then
// 8 lanes for the rest. zero: writes zeros and reads nothing. kKvTile: the
// row goes into a KV tile (kv_chunk_offset), else into the Q tile. Lane l's
// chunks l, l + 32 and l + 64 share their swizzle (chunk % 8 = l % 8) and lie
// 4 column blocks apart, so the lane computes one offset a row; one 64-bit
// shuffle a row brings the source and its readable bit (RowSource). Before
// (an offset a chunk, three shuffles, the size form of cp.async) page 1 took
// 235.9 us instead of 209.2 (H200, B128 kv4096 H16, graph, seventeenth
// session; 219.4 with the one offset alone).
template <bool kKvTile>
__device__ __forceinline__ void copy_row(uint32_t tile, uint32_t row, const uint8_t* src, bool zero, uint32_t lane) {
  constexpr uint32_t kBlock = kKvTile ? kKvBlockStride : kColBlockBytes;
  const uint32_t dst = tile + (kKvTile ? kv_chunk_offset(row, lane) : swizzled_chunk_offset(row, lane));
  ptx::cp_async_16(dst, src + lane * 16, !zero);
  ptx::cp_async_16(dst + 4 * kBlock, src + (lane + 32) * 16, !zero);
  if (lane < kChunksPerRow - 64) ptx::cp_async_16(dst + 8 * kBlock, src + (lane + 64) * 16, !zero);
}

// Where one key's row comes from: its address for cp.async, with bit 0 set
// when the row is not readable (rows are 16-byte aligned, so the bit is
// free; one 64-bit shuffle then carries both), and its row index in the pool
// for TMA.
struct RowSource {
  uint64_t tagged;  // address | 1 when not readable (then the pool's base | 1)
  int32_t pool_row;
  __device__ bool readable() const { return (tagged & 1u) == 0; }
};

__device__ __forceinline__ RowSource kv_row_source(const DecodeParams& p, const int32_t* pages, int32_t key,
                                                   int32_t key_hi) {
  RowSource r{reinterpret_cast<uint64_t>(p.kv_pool) | 1u, 0};
  if (key < key_hi) {
    const int32_t page_index = key >> p.page_shift;
    if (page_index < p.max_pages) {
      const int32_t page = __ldg(pages + page_index);
      if (page >= 0 && page < p.num_pages) {
        const int64_t slot = int64_t(page) * p.page_size + (key & (p.page_size - 1));
        r.pool_row = int32_t(slot);  // TMA coordinate; the host enables TMA only when rows fit in int32
        r.tagged = reinterpret_cast<uint64_t>(static_cast<const uint8_t*>(p.kv_pool) + slot * int64_t(kRowBytes));
      } else {
        // The planner checked the table; it changed since. Zeros, and say so
        // (as the portable kernel does).
        atomicOr(p.status, MLA_STATUS_BAD_PAGE_ID);
      }
    }
  }
  return r;
}

// Page-table entries of a later tile (keys k0..k0+63) towards L1: lane l
// prefetches the entries of keys k0 + l and k0 + l + 32. kv_row_source reads
// a tile's entries right before it issues the tile, and below 8 rows a page
// each tile's entries are new cache lines: without this, every tile waited
// for one page-table round trip. No registers held, nothing to wait for.
// Used below 8 rows a page only (page_prefetch_applies): H200, B128 kv4096
// H16, tile t + 2: page 1 251.4 -> 234.0 us, but pages 64-256 0.8-3% slower
// (a page's entry serves 1-4 tiles there, and the CCTL costs issue slots).
__device__ __forceinline__ void prefetch_page_ids(const DecodeParams& p, const int32_t* pages, int32_t k0,
                                                  int32_t key_hi) {
  const int32_t lane = int32_t(threadIdx.x & 31);
#pragma unroll
  for (int32_t h = 0; h < 2; ++h) {
    const int32_t key = k0 + lane + 32 * h;
    if (key < key_hi && (key >> p.page_shift) < p.max_pages)
      asm volatile("prefetch.global.L1 [%0];" ::"l"(pages + (key >> p.page_shift)));
  }
}

// How many tiles ahead the producers prefetch page-table entries.
#ifndef MLA_SM90_PAGE_ID_PREFETCH
#define MLA_SM90_PAGE_ID_PREFETCH 2
#endif
constexpr int32_t kPageIdPrefetch = MLA_SM90_PAGE_ID_PREFETCH;

__device__ __forceinline__ bool page_prefetch_applies(const DecodeParams& p, const ItemView& v, int32_t t) {
  return kPageIdPrefetch > 0 && p.page_shift < 3 && t + kPageIdPrefetch < v.n_tiles;
}

// Brings one 64-key tile (keys k0..k0+63) into `tile`. Lane l looks up rows l
// and l + 32. The tile is cut into runs of `run_rows` rows (box_rows when TMA
// is on, else 16), and run j belongs to warp j % 4. A run whose rows are all
// readable goes through TMA (one box of its row groups; 9 boxes, one per
// column block, in the column-block layout), the others row by row through
// cp.async. Every producer thread then arrives on each of the stage's
// kTmaParts barriers (`full`: part 0; part p at full + 8 p): one in the
// row-group layout; in the column-block layout each box counts its bytes on
// its column block's part. Without TMA (box_rows = 0) only part 0 is used
// (the consumers wait for it alone).
template <int kVariant>
__device__ __forceinline__ void load_kv_tile(const DecodeParams& p, const CUtensorMap* kv_map, int32_t box_rows,
                                             const int32_t* pages, int32_t k0, int32_t key_hi, uint32_t tile,
                                             uint32_t full, uint32_t empty, uint32_t empty_parity,
                                             bool wait_empty, bool first_tile) {
  (void)first_tile;  // timeline builds only (dev_timeline.cuh)
  const uint32_t lane = threadIdx.x & 31;
  const uint32_t warp = (threadIdx.x >> 5) & 3;
  // Look the rows up before waiting for the stage: the page-table reads
  // overlap the consumers' work on the tile that still occupies it.
  const RowSource lo = kv_row_source(p, pages, k0 + int32_t(lane), key_hi);
  const RowSource hi = kv_row_source(p, pages, k0 + int32_t(lane) + 32, key_hi);
  const uint64_t readable = uint64_t(__ballot_sync(0xffffffffu, lo.readable())) |
                            (uint64_t(__ballot_sync(0xffffffffu, hi.readable())) << 32);
  if (first_tile && threadIdx.x == 0) MLA_DEV_STAMP_DECODE(kFirstPagesRead);
  if (wait_empty) mbar_wait(empty, empty_parity);

  const int32_t run_rows = box_rows > 0 ? box_rows : 16;
  const uint64_t run_bits = run_rows == 64 ? ~uint64_t(0) : ((uint64_t(1) << run_rows) - 1);
  // TMA runs of this warp first (their bytes are announced before any lands).
  uint32_t tma_runs = 0;  // bit j: run j goes through TMA
  if (box_rows > 0 && kVariant != kVariantNoLoad)
    for (int32_t j = int32_t(warp); j * run_rows < kKeys; j += 4) {
      const uint64_t bits = run_bits << (j * run_rows);
      if ((readable & bits) == bits) tma_runs |= 1u << j;
    }
  // Pool rows of the runs' first keys, gathered before lane 0 issues.
  int32_t first_row[2] = {0, 0};
#pragma unroll
  for (int32_t k = 0; k < 2; ++k) {
    const int32_t row = (int32_t(warp) + 4 * k) * run_rows;  // first row of this warp's k-th run
    const int32_t src_lane = row & 31;
    const int32_t lo_row = __shfl_sync(0xffffffffu, lo.pool_row, src_lane);
    const int32_t hi_row = __shfl_sync(0xffffffffu, hi.pool_row, src_lane);
    first_row[k] = row < 32 ? lo_row : hi_row;
  }
#if defined(MLA_DEV_LOADS_BULK)
  // Measurement builds only (loads-only timing, wrong layout): a whole-page
  // tile as one 1-D bulk copy of its 73,728 contiguous bytes instead of nine boxes.
  if (kVariant == kVariantNoCompute && box_rows == 64 && tma_runs == 1u) {
    if (lane == 0) {
      mbar_arrive_expect_tx(full, kTileBytes);
      for (uint32_t part = 1; part < kTmaParts; ++part) mbar_arrive_expect_tx(full + 8 * part, 0);
      asm volatile(
          "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(tile),
          "l"(static_cast<const uint8_t*>(p.kv_pool) + int64_t(first_row[0]) * kRowBytes), "r"(kTileBytes), "r"(full)
          : "memory");
    }
  } else
#endif
  if (lane == 0) {
    // Each part's barrier: this warp's TMA bytes in that part's column blocks.
    const uint32_t block_bytes = uint32_t(__popc(tma_runs)) * uint32_t(run_rows) * 128u;
#pragma unroll
    for (uint32_t part = 0; part < kTmaParts; ++part)
      if (part == 0 || box_rows > 0)
        mbar_arrive_expect_tx(full + 8 * part, block_bytes * (kKvRowGroups ? 9u : part_blocks(part)));
    if (first_tile && threadIdx.x == 0) MLA_DEV_STAMP_DECODE(kFirstAnnounced);
    for (int32_t k = 0; k < 2; ++k) {
      const int32_t j = int32_t(warp) + 4 * k;
      if (!((tma_runs >> j) & 1u)) continue;
      if constexpr (kKvRowGroups) {  // the run's row groups, whole, in one box
        tma_load_row_groups(tile + uint32_t(j * run_rows) * kRowBytes, kv_map, first_row[k] >> 3, full);
        if (first_tile && threadIdx.x == 0) MLA_DEV_STAMP_DECODE(kFirstTmaIssued);
      } else {
        const uint32_t dst = tile + uint32_t(j * run_rows) * 128u;
#pragma unroll
        for (uint32_t cb = 0; cb < 9; ++cb)
          tma_load_2d(dst + cb * kColBlockBytes, kv_map, int32_t(cb * 64), first_row[k], full + 8 * block_part(cb));
      }
    }
  }
  // The rest of this warp's runs, row by row.
  if (kVariant != kVariantNoLoad)
    for (int32_t j = int32_t(warp); j * run_rows < kKeys; j += 4) {
      if ((tma_runs >> j) & 1u) continue;
      for (int32_t r = j * run_rows; r < (j + 1) * run_rows; ++r) {
        const uint64_t src = __shfl_sync(0xffffffffu, r < 32 ? lo.tagged : hi.tagged, r & 31);
        copy_row<true>(tile, uint32_t(r), reinterpret_cast<const uint8_t*>(src & ~uint64_t(1)), (src & 1u) != 0, lane);
      }
    }
#pragma unroll
  for (uint32_t part = 0; part < kTmaParts; ++part)
    if (part == 0 || box_rows > 0) cp_async_arrive_noinc(full + 8 * part);
}

// L2 prefetch of the rows of a later tile (keys k0..k0+63): lane l < 16 of
// warp w takes row 16w + l. Unreadable rows are skipped.
__device__ __forceinline__ void prefetch_kv_tile(const DecodeParams& p, const int32_t* pages, int32_t k0,
                                                 int32_t key_hi) {
  const uint32_t lane = threadIdx.x & 31;
  const uint32_t warp = (threadIdx.x >> 5) & 3;
  if (lane >= 16) return;
  const RowSource r = kv_row_source(p, pages, k0 + int32_t(warp * 16 + lane), key_hi);
  if (r.readable()) l2_prefetch(reinterpret_cast<const void*>(r.tagged), kRowBytes);
}

// The Q rows of one M tile are contiguous in Q; rows past `rows` become zeros.
template <int kVariant>
__device__ __forceinline__ void load_q_tile(const DecodeParams& p, int64_t q_row0, int32_t rows, uint32_t dst,
                                            uint32_t full) {
  const uint32_t lane = threadIdx.x & 31;
  const uint32_t warp = (threadIdx.x >> 5) & 3;
  const uint8_t* q = static_cast<const uint8_t*>(p.q);
  if (kVariant != kVariantNoLoad)
    for (uint32_t r = warp * 16; r < warp * 16 + 16; ++r) {
      const bool valid = int32_t(r) < rows;
      copy_row<false>(dst, r, valid ? q + (q_row0 + r) * int64_t(kRowBytes) : q, !valid, lane);
    }
  cp_async_arrive_noinc(full);
}

// Loads the Q tile of item v's request once the consumers have released the
// previous one.
template <int kVariant>
__device__ __forceinline__ void load_next_q(const DecodeParams& p, const ItemView& v, uint32_t base,
                                            uint32_t& q_loads, int32_t& loaded_request) {
  if (q_loads > 0) mbar_wait(base + smem::kBarQEmpty, (q_loads - 1) & 1);
  load_q_tile<kVariant>(p, v.q_row0, v.rows, base + smem::kQ, base + smem::kBarQFull);
  ++q_loads;
  loaded_request = v.request;
}

template <int kVariant>
__device__ __forceinline__ void producer_loop(const DecodeParams& p, const CUtensorMap* kv_map, int32_t box_rows,
                                              int32_t prefetch_tiles, uint32_t base, int32_t m_tile) {
  uint32_t tile_count = 0;  // KV tiles issued so far (ring position)
  uint32_t q_loads = 0;
  int32_t loaded_request = -1;
  const int32_t end = p.part_begin[blockIdx.x + 1];
  if (threadIdx.x == 0) MLA_DEV_STAMP_DECODE(kPartRead);
  for (int32_t index = p.part_begin[blockIdx.x]; index < end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (tile_count == 0 && threadIdx.x == 0) MLA_DEV_STAMP_DECODE(kItemViewed);
    if (v.rows == 0 || v.n_tiles == 0) continue;
    const bool new_q = v.request != loaded_request;
    const int32_t* pages = p.page_table + int64_t(v.request) * p.max_pages;
    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      // A new request's Q goes in after the item's first KV tile: the Q tile
      // frees only when the consumers have computed S of the previous item's
      // last tile, while the first tile's stage is usually free a tile earlier.
      if (t == 1 && new_q) load_next_q<kVariant>(p, v, base, q_loads, loaded_request);
      if (page_prefetch_applies(p, v, t))
        prefetch_page_ids(p, pages, v.tile_base + (t + kPageIdPrefetch) * kKeys, v.key_hi);
      // Tile t + prefetch_tiles towards L2 now: the two shared-memory stages
      // alone keep too few bytes in flight to cover the memory latency.
      if (prefetch_tiles > 0 && t + prefetch_tiles < v.n_tiles)
        prefetch_kv_tile(p, pages, v.tile_base + (t + prefetch_tiles) * kKeys, v.key_hi);
      const uint32_t stage = tile_count % kStages;
      const uint32_t round = tile_count / kStages;
      load_kv_tile<kVariant>(p, kv_map, box_rows, pages, v.tile_base + t * kKeys, v.key_hi,
                             base + smem::kKV + stage * kTileBytes, full_bar(base, stage, 0),
                             base + smem::kBarEmpty + 8 * stage, (round - 1) & 1, round > 0, tile_count == 0);
      if (tile_count == 0 && threadIdx.x == 0) MLA_DEV_STAMP_DECODE(kFirstIssued);
    }
    if (v.n_tiles == 1 && new_q) load_next_q<kVariant>(p, v, base, q_loads, loaded_request);
  }

  // Leave only once the consumers have released the last tiles: every
  // arrival this thread's copies trigger has then happened.
  for (uint32_t k = 0; k < kStages && k < tile_count; ++k) {
    const uint32_t tile = tile_count - 1 - k;
    mbar_wait(base + smem::kBarEmpty + 8 * (tile % kStages), (tile / kStages) & 1);
  }
  if (threadIdx.x == 0) MLA_DEV_STAMP_DECODE(kProducerDone);
}

}  // namespace mla::cuda_impl::sm90
