// mla/types.h - the problem description shared by every backend.
//
// A decode step: B requests, request b has q_len[b] new query tokens (rows
// q_offsets[b] .. q_offsets[b+1] of Q) and kv_len[b] cached keys (the new
// tokens included). Query i of request b sits at absolute position
// kv_len[b] - q_len[b] + i. See README.md, "The contract".
#pragma once

#include <cstddef>
#include <cstdint>

#include "mla/constants.h"

namespace mla {

enum class RowFormat : int32_t {
  bf16 = MLA_FORMAT_BF16,                // 576 BF16 values, 1152 bytes
  fp8_rope640 = MLA_FORMAT_FP8_ROPE640,  // 512 e4m3 + 64 BF16, 640 bytes, one float scale per row
};

enum class MaskKind : int32_t {
  none = MLA_MASK_NONE,                      // every key k < kv_len visible
  causal = MLA_MASK_CAUSAL,                  // k <= p
  sliding_window = MLA_MASK_SLIDING_WINDOW,  // k <= p and p - k < window
  chunked = MLA_MASK_CHUNKED,                // k <= p and k / chunk == p / chunk
};

// Bytes of one row (a Q row of one head, or a KV row) in a format.
constexpr int64_t row_bytes(RowFormat f) {
  return f == RowFormat::bf16 ? MLA_ROW_BYTES_BF16 : MLA_ROW_BYTES_FP8;
}

const char* to_string(RowFormat f);
const char* to_string(MaskKind m);
// Parse "bf16" / "fp8_rope640" and "none" / "causal" / "sliding_window" / "chunked".
bool parse_row_format(const char* s, RowFormat* out);
bool parse_mask_kind(const char* s, MaskKind* out);

// The shape-level description of one decode call: everything the host knows
// without reading the per-request metadata (which may live on a device).
struct ProblemDesc {
  int32_t batch = 0;      // B, number of requests; 0 makes the call a no-op
  int32_t num_heads = 0;  // H, query heads, 1..128
  int32_t total_q = 0;    // rows of Q and of the output: q_offsets[B]

  RowFormat q_format = RowFormat::bf16;   // format of each Q row (one per token and head)
  RowFormat kv_format = RowFormat::bf16;  // format of each cached row

  MaskKind mask = MaskKind::none;
  int32_t window = 0;  // sliding_window only: keys with p - k < window are visible, >= 1
  int32_t chunk = 0;   // chunked only: chunk length in keys, >= 1

  float softmax_scale = 0.f;  // multiplies Q.K (1/sqrt(d) and YaRN folded in by the caller)

  int32_t page_size = 0;  // tokens per page, a power of two in 1..512
  int32_t num_pages = 0;  // pages in the KV pool (and in the scales pool)
  int32_t max_pages = 0;  // columns of page_table: pages a request may use

  // Split-K over the keys of each request. 0: the backend chooses. n in 1..64:
  // at most n partitions per request (fewer when a request has fewer key tiles).
  int32_t num_splits = 0;
  // When set, the partition of each request is a function of its own kv_len
  // only (MLA_INVARIANT_SPLIT_KEYS), so its result does not depend on the rest
  // of the batch. Overrides num_splits.
  bool batch_invariant = false;
};

// The inputs of one call. Whether the pointers are host or device pointers
// depends on the API they are passed to.
struct ProblemData {
  const void* q = nullptr;            // [total_q, H, row_bytes(q_format)]
  const float* q_scales = nullptr;    // [total_q], fp8_rope640 Q only (sigma_q per token)
  const void* kv_pool = nullptr;      // [num_pages, page_size, row_bytes(kv_format)]
  const float* kv_scales = nullptr;   // [num_pages, page_size], fp8_rope640 KV only
  const int32_t* page_table = nullptr;  // [B, max_pages]
  const int32_t* q_offsets = nullptr;   // [B + 1], prefix sums of q_len, q_offsets[0] = 0
  const int32_t* kv_lens = nullptr;     // [B]
};

// Element counts of each buffer, for allocation and bounds.
int64_t q_elems_bytes(const ProblemDesc& d);      // bytes of q
int64_t kv_pool_bytes(const ProblemDesc& d);      // bytes of kv_pool
int64_t kv_scales_count(const ProblemDesc& d);    // floats of kv_scales (0 unless fp8 KV)
int64_t q_scales_count(const ProblemDesc& d);     // floats of q_scales (0 unless fp8 Q)
int64_t page_table_count(const ProblemDesc& d);   // int32 of page_table
int64_t out_count(const ProblemDesc& d);          // values of out: total_q * H * 512
int64_t lse_count(const ProblemDesc& d);          // floats of lse: total_q * H

// A continuous-batching cache (one contiguous slot of slot_tokens tokens per
// request, slot b starting at token b * slot_tokens of one flat pool) expressed
// as a paged cache: picks the largest power-of-two page size <= 512 dividing
// slot_tokens and fills a page table [batch, slot_tokens / page_size] with
// page_table[b][j] = b * (slot_tokens / page_size) + j. Returns all zeros
// (and writes nothing) when batch or slot_tokens is <= 0 or the pool would
// have more than 2^31 - 1 pages.
struct ContiguousLayout {
  int32_t page_size = 0;
  int32_t max_pages = 0;
  int32_t num_pages = 0;
};
ContiguousLayout contiguous_layout(int32_t batch, int32_t slot_tokens, int32_t* page_table /* may be null */);

}  // namespace mla
