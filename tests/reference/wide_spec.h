// tests/reference/wide_spec.h - random problem specs over the whole contract,
// wider than config_matrix (which is sized for the device suites): every page
// size 1..512, q_len 0..16 ragged, kv_len 0, any H in 1..128, all masks and
// format pairs. The work (sum of q_len * H * kv_len) is capped so that the
// naive check stays fast.
#pragma once

#include <cstdint>
#include <random>

#include "mla_test.h"

namespace mla::test {

// `index` cycles the mask and format pair so that every combination appears
// within 12 consecutive specs.
ProblemSpec wide_spec(std::mt19937_64& rng, int index, int64_t max_work);

// The same logical problem (same Q, same key rows, same metadata) laid out in
// a fresh pool of `page_size` pages handed out in a shuffled order, with NaN in
// every free slot and garbage in unused page-table columns.
HostProblem repage(const HostProblem& src, int32_t page_size, uint64_t seed);

// The same logical problem in a continuous-batching cache built with
// mla::contiguous_layout (one slot of `slot_tokens` tokens per request).
HostProblem contiguous(const HostProblem& src, int32_t slot_tokens);

}  // namespace mla::test
