// tools/bench/bench_configs.h - the configurations `mla bench` times: one
// from the command line or a named sweep (issue 5's and issue 6's targets).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mla/status.h"
#include "mla/types.h"

namespace mla::tools::bench {

struct BenchConfig {
  std::string name;  // unique within a run, e.g. "b128_kv4096_h16_q1_p64"
  int32_t batch = 0;
  int32_t num_heads = 0;
  int32_t q_len = 1;             // every request has the same q_len
  std::vector<int32_t> kv_lens;  // one per request
  int32_t page_size = 64;
  // Pages of the rotation sets dealt in a shuffled order (the default: an
  // allocator that has run a while) or in pool order, request after request
  // (`--page-order sequential`, as FlashMLA's own benchmark builds its block
  // table), so the two can be compared in one run.
  bool sequential_pages = false;
  RowFormat q_format = RowFormat::bf16;
  RowFormat kv_format = RowFormat::bf16;
  MaskKind mask = MaskKind::causal;
  int32_t window = 0, chunk = 0;
  // The config whose time this one is divided by (same mode and kernel);
  // empty when there is none.
  std::string baseline;
  // What the issues ask of it (0 = nothing): a share of the copy bandwidth or
  // of the GEMM rate measured in the same run, or a largest time ratio to the
  // baseline.
  double min_pct_copy = 0, min_pct_gemm = 0, max_ratio = 0;
};

// The targets as text ("pct_copy >= 97", "ratio <= 0.8"; "" when none).
std::string target_text(const BenchConfig& c);

// Names of the sweeps, for --help and errors.
std::vector<std::string> sweep_names();

// The configs of a named sweep, baselines before the configs that refer to them.
Status named_sweep(const std::string& name, std::vector<BenchConfig>* out);

// A config's default name from its shape ("b4_kvmix_h16_q4_p64_fp8fp8" style).
std::string default_name(const BenchConfig& c);

// Pages in pool order (--page-order sequential): sets the flag and appends
// "_seq" to the name and the baseline's name, so results of both orders can
// share a JSON file and ratios stay within one order.
void use_sequential_pages(BenchConfig* c);

// Is kv_lens the same for every request?
bool uniform_kv(const BenchConfig& c);

}  // namespace mla::tools::bench
