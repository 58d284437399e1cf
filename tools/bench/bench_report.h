// tools/bench/bench_report.h - the bench's output: a progress line per
// result on stderr, one JSON object per result (JSON lines, --json FILE), and
// a table on stdout at the end. Derived numbers (GB/s, TFLOPS, shares of the
// run's limits, ratio to the baseline config, target met) are computed here.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "bench_card.h"
#include "bench_configs.h"
#include "bench_metrics.h"
#include "bench_result.h"
#include "mla/status.h"

namespace mla::tools::bench {

struct RunInfo {
  std::string backend;  // "cuda" or "vulkan"
  std::string sweep;    // the --sweep name, or "custom"
  std::string commit;
  std::string date;     // UTC, ISO 8601, when the run started
  std::string device;   // the backend's own name for what runs it
  bool have_card = false;
  CardInfo card;        // CUDA's facts about the card (also for a Vulkan run when CUDA sees the card)
  bool have_copy = false;  // limits.copy_* measured (CUDA, or the Vulkan copy without a CUDA device)
  bool have_gemm = false;  // limits.gemm_* measured (CUDA only)
  Limits limits;
  std::string card_extra;  // --card-info: e.g. an nvidia-smi query, stored verbatim
};

class Report {
 public:
  Report(RunInfo info, std::FILE* json) : info_(std::move(info)), json_(json) {}

  void add(const BenchConfig& c, const Measurement& m);
  void add_error(const BenchConfig& c, const std::string& kernel_requested, const Status& st);
  void print_table(std::FILE* f) const;
  // Results whose output check failed, and configs that could not run.
  int failures() const { return failures_; }

 private:
  struct Row {
    BenchConfig c;
    Workload w;
    Measurement m;
    std::string error;
    double gbps = 0, tflops = 0, pct_copy = 0, pct_gemm = 0, pct_limit = 0, ratio = 0;
    std::string bound;  // "memory" or "compute": which ceiling is nearer
    int meets = -1;     // -1 no target, 0 missed, 1 met
  };
  const Row* find(const std::string& name, const std::string& mode, const std::string& kernel_requested) const;
  void write_json(const Row& r) const;

  RunInfo info_;
  std::FILE* json_;
  std::vector<Row> rows_;
  int failures_ = 0;
};

}  // namespace mla::tools::bench
