// sm90_items.cuh - what one CTA of the sm_90a kernel does with one work item:
// its rows (this CTA's M tile of the item's request) and the keys they can
// see. Every role computes the same view from the same global data, so the
// producer and the consumers agree on tile counts and Q reloads without
// talking to each other.
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "mla/mask.h"
#include "sm90_config.cuh"

namespace mla::cuda_impl::sm90 {

struct ItemView {
  int32_t request;
  int32_t rows;         // valid rows of this CTA's M tile; 0: nothing to do here
  int32_t row0;         // request-level row of tile row 0 (m * kRows)
  int64_t q_row0;       // global row of tile row 0 in Q / out / lse
  int32_t item_begin;   // the item's keys [item_begin, item_end)
  int32_t item_end;
  int32_t key_lo;       // keys any row of this tile sees within the item: [key_lo, key_hi)
  int32_t key_hi;
  int32_t tile_base;    // first key of tile 0: key_lo rounded down to a multiple of kKeys, so
                        // that tiles never straddle a page of >= 64 rows (whole-page TMA loads)
  int32_t n_tiles;      // ceil((key_hi - tile_base) / kKeys), 0 when nothing is visible
  int32_t partial_row;  // workspace row of request row 0 of this split; -1: write out / lse
  int32_t q_len;
  int32_t kv_len;
};

__device__ __forceinline__ KeyRange token_keys(const DecodeParams& p, int32_t kv_len, int32_t q_len, int32_t i) {
  return visible_keys(static_cast<MaskKind>(p.mask), p.window, p.chunk, kv_len, q_len, i);
}

__device__ __forceinline__ ItemView view_item(const DecodeParams& p, int32_t index, int32_t m_tile) {
  const WorkItem item = p.items[index];
  const RequestInfo rq = p.requests[item.request];
  ItemView v;
  v.request = item.request;
  v.rows = 0;
  v.row0 = m_tile * kRows;
  v.q_row0 = (int64_t(rq.q_begin) * p.num_heads) + v.row0;
  v.item_begin = item.key_begin;
  v.item_end = item.key_end;
  v.key_lo = 0;
  v.key_hi = 0;
  v.tile_base = 0;
  v.n_tiles = 0;
  v.partial_row = item.num_splits > 1 ? item.partial_row : -1;
  v.q_len = rq.q_len;
  v.kv_len = rq.kv_len;
  const int32_t total_rows = rq.q_len * p.num_heads;
  if (rq.status != 0 || rq.q_len <= 0 || v.row0 >= total_rows) return v;
  v.rows = min(kRows, total_rows - v.row0);
  // Visible ranges only move forward with the token, so the union over the
  // tile's tokens is [first token's begin, last token's end).
  const KeyRange first = token_keys(p, rq.kv_len, rq.q_len, v.row0 / p.num_heads);
  const KeyRange last = token_keys(p, rq.kv_len, rq.q_len, (v.row0 + v.rows - 1) / p.num_heads);
  int64_t lo = first.begin > item.key_begin ? first.begin : item.key_begin;
  int64_t hi = last.end < item.key_end ? last.end : item.key_end;
  if (hi > rq.kv_len) hi = rq.kv_len;  // never trust a split beyond the request
  if (lo < 0) lo = 0;
  if (hi > lo) {
    v.key_lo = int32_t(lo);
    v.key_hi = int32_t(hi);
    v.tile_base = v.key_lo & ~(kKeys - 1);
    v.n_tiles = (v.key_hi - v.tile_base + kKeys - 1) / kKeys;
  }
  return v;
}

// Whether the next item of this part that reads a Q tile needs a different
// one than `loaded_request` (so the softmax WG must hand the Q buffer back).
__device__ __forceinline__ bool next_item_reloads_q(const DecodeParams& p, int32_t index, int32_t end,
                                                    int32_t m_tile, int32_t loaded_request) {
  for (int32_t j = index + 1; j < end; ++j) {
    const ItemView v = view_item(p, j, m_tile);
    if (v.rows > 0 && v.n_tiles > 0) return v.request != loaded_request;
  }
  return false;
}

}  // namespace mla::cuda_impl::sm90
