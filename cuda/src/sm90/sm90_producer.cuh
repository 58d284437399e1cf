// sm90_producer.cuh - warpgroup 0 of the sm_90a kernel: gathers the Q tile
// and the 64-key KV tiles of each work item into shared memory with 16-byte
// cp.async, in the swizzled layout wgmma reads.
//
// Each warp owns 16 rows of a tile. Lane l < 16 looks up the source of row
// warp * 16 + l (page table -> pool row), the warp then copies the rows one by
// one, 32 lanes side by side over the row's 72 chunks (coalesced 512-byte
// runs). A row outside the item's keys, past max_pages, or on a page id
// outside [0, num_pages) is never read: cp.async with 0 source bytes writes
// zeros, so masked keys carry finite values into P.V.
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"

namespace mla::cuda_impl::sm90 {

// Copies the 16 rows [row_first, row_first + 16) of a tile whose row sources
// are held by lanes 0..15 (src, bytes = 16 or 0).
__device__ __forceinline__ void copy_rows16(uint32_t tile, uint32_t row_first, const uint8_t* src,
                                            uint32_t bytes, uint32_t lane) {
#pragma unroll 4
  for (uint32_t r = 0; r < 16; ++r) {
    const uint8_t* row_src =
        reinterpret_cast<const uint8_t*>(__shfl_sync(0xffffffffu, reinterpret_cast<uint64_t>(src), int(r)));
    const uint32_t row_bytes = __shfl_sync(0xffffffffu, bytes, int(r));
    const uint32_t row = row_first + r;
    // 72 chunks: two full warp-wide runs, then 8 lanes for the rest.
    cp_async_16(tile + swizzled_chunk_offset(row, lane), row_src + lane * 16, row_bytes);
    cp_async_16(tile + swizzled_chunk_offset(row, lane + 32), row_src + (lane + 32) * 16, row_bytes);
    if (lane < kChunksPerRow - 64)
      cp_async_16(tile + swizzled_chunk_offset(row, lane + 64), row_src + (lane + 64) * 16, row_bytes);
  }
}

__device__ __forceinline__ void producer_loop(const DecodeParams& p, uint32_t base, int32_t m_tile) {
  const uint32_t lane = threadIdx.x & 31;
  const uint32_t warp = (threadIdx.x >> 5) & 3;
  const uint8_t* pool = static_cast<const uint8_t*>(p.kv_pool);
  const uint8_t* q = static_cast<const uint8_t*>(p.q);
  const int32_t page_mask = p.page_size - 1;

  uint32_t tile_count = 0;  // KV tiles issued so far (ring position)
  uint32_t q_loads = 0;
  int32_t loaded_request = -1;
  const int32_t end = p.part_begin[blockIdx.x + 1];
  for (int32_t index = p.part_begin[blockIdx.x]; index < end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0 || v.n_tiles == 0) continue;

    if (v.request != loaded_request) {
      // Q rows of one M tile are contiguous in Q; rows past v.rows become zeros.
      if (q_loads > 0) mbar_wait(base + smem::kBarQEmpty, (q_loads - 1) & 1);
      const uint32_t row = warp * 16 + (lane & 15);
      const uint8_t* src = q;
      uint32_t bytes = 0;
      if (int32_t(row) < v.rows) {
        src = q + (v.q_row0 + row) * int64_t(kRowBytes);
        bytes = 16;
      }
      copy_rows16(base + smem::kQ, warp * 16, src, bytes, lane);
      cp_async_arrive_noinc(base + smem::kBarQFull);
      ++q_loads;
      loaded_request = v.request;
    }

    const int32_t* pages = p.page_table + int64_t(v.request) * p.max_pages;
    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      // Look the row up before waiting for the stage: the page-table read
      // overlaps the consumers' work on the tile that still occupies it.
      const int32_t key = v.key_lo + t * kKeys + int32_t(warp * 16 + (lane & 15));
      const uint8_t* src = pool;
      uint32_t bytes = 0;
      if (key < v.key_hi) {
        const int32_t page_index = key >> p.page_shift;
        if (page_index < p.max_pages) {
          const int32_t page = __ldg(pages + page_index);
          if (page >= 0 && page < p.num_pages) {
            src = pool + (int64_t(page) * p.page_size + (key & page_mask)) * int64_t(kRowBytes);
            bytes = 16;
          }
        }
      }
      const uint32_t stage = tile_count % kStages;
      const uint32_t round = tile_count / kStages;
      if (round > 0) mbar_wait(base + smem::kBarEmpty + 8 * stage, (round - 1) & 1);
      copy_rows16(base + smem::kKV + stage * kTileBytes, warp * 16, src, bytes, lane);
      cp_async_arrive_noinc(base + smem::kBarFull + 8 * stage);
    }
  }

  // Leave only once the consumers have released the last tiles: every
  // arrival this thread's copies trigger has then happened.
  for (uint32_t k = 0; k < kStages && k < tile_count; ++k) {
    const uint32_t tile = tile_count - 1 - k;
    mbar_wait(base + smem::kBarEmpty + 8 * (tile % kStages), (tile / kStages) & 1);
  }
}

}  // namespace mla::cuda_impl::sm90
