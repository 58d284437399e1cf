// tools/bench/bench_problem.h - a config as a problem: its ProblemDesc and
// the metadata of each rotation set. The sets share one KV pool and get
// disjoint pages dealt from one shuffled permutation of it, so each set's
// pages are scattered over the whole pool as in a serving engine's cache, and
// consecutive runs never find the previous run's rows in L2.
#pragma once

#include <cstdint>
#include <vector>

#include "bench_configs.h"
#include "mla/types.h"

namespace mla::tools::bench {

// Pages one set uses: sum over requests of ceil(kv_len / page_size).
int64_t pages_per_set(const BenchConfig& c);

// The desc of every set of a run with `num_sets` sets (num_pages covers them all).
ProblemDesc describe(const BenchConfig& c, int32_t num_sets);

struct SetMetadata {
  std::vector<int32_t> page_table;  // [B, max_pages]; columns past a request's pages hold page 0
  std::vector<int32_t> q_offsets;   // [B + 1]
  std::vector<int32_t> kv_lens;     // [B]
};

std::vector<SetMetadata> make_metadata(const BenchConfig& c, const ProblemDesc& d, int32_t num_sets, uint64_t seed);

}  // namespace mla::tools::bench
