// tools/synthetic.h - a realistic random decode batch for `mla demo` (and
// later `mla bench`): ragged q_len and kv_len, shuffled pages, NaN in every
// free cache slot, values drawn like activations (never zeros), FP8 rows
// quantised with a per-row scale as a serving engine would.
#pragma once

#include <cstdint>

#include "mla/status.h"
#include "mla/types.h"
#include "owned_problem.h"

namespace mla::tools {

struct SyntheticSpec {
  int32_t batch = 32;
  int32_t num_heads = 16;
  int32_t q_len_min = 1, q_len_max = 2;        // per request, uniform
  int32_t kv_len_min = 1, kv_len_max = 4096;   // per request, uniform (q_len <= kv_len under causal masks)
  int32_t page_size = 64;
  RowFormat q_format = RowFormat::bf16;
  RowFormat kv_format = RowFormat::bf16;
  MaskKind mask = MaskKind::causal;
  int32_t window = 0, chunk = 0;
  float softmax_scale = 0.f;  // 0: 1/sqrt(576)
  int32_t num_splits = 0;
  bool batch_invariant = false;
  uint64_t seed = 1;
};

// Builds the batch; fails (invalid_argument) when the spec breaks the contract.
Status make_synthetic(const SyntheticSpec& s, OwnedProblem* out);

}  // namespace mla::tools
