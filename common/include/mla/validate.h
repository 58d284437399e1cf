// mla/validate.h - the one place that checks a problem against the contract.
//
// Every backend calls validate_desc() and validate_buffers() before any
// launch; when the metadata (q_offsets, kv_lens, page_table) is readable on
// the host it also calls validate_metadata(). The first violation found is
// returned as an invalid_argument Status whose message names the field, the
// value and the bound, e.g. "page_size = 48 must be a power of two in [1, 512]".
#pragma once

#include "mla/status.h"
#include "mla/types.h"

namespace mla {

// Shape-level rules: ranges of B, H, total_q, page_size, num_pages, max_pages,
// num_splits, window / chunk, a finite softmax_scale, a supported format
// pair, and buffer sizes that fit in int64 (and in 2^31 - 1 rows of Q / pool).
Status validate_desc(const ProblemDesc& d);

// Null pointers among the buffers the problem needs (none when B == 0;
// q_scales only for fp8 Q, kv_scales only for fp8 KV). out/lse are checked too.
Status validate_buffers(const ProblemDesc& d, const ProblemData& data, const void* out,
                        const float* lse);

// Per-request rules, on host copies of the metadata: q_offsets[0] == 0,
// non-decreasing, q_len <= 16, q_offsets[B] == total_q; 0 <= kv_len <=
// max_pages * page_size; q_len <= kv_len under causal-family masks; every page
// id a request uses (pages 0 .. ceil(kv_len / page_size) - 1) in [0, num_pages).
Status validate_metadata(const ProblemDesc& d, const int32_t* q_offsets, const int32_t* kv_lens,
                         const int32_t* page_table);

// All three, for a problem whose buffers are all in host memory.
Status validate_host_problem(const ProblemDesc& d, const ProblemData& data, const void* out,
                             const float* lse);

}  // namespace mla
