// tools/bench/bench_vulkan_run.h - one config on the Vulkan backend through
// the tools' Runner (Context::decode_host): the time is the backend's
// kernel_ms (timestamp queries around the recorded passes), median of the
// runs after one warm-up. decode_host uploads the inputs before every run,
// which also evicts the previous run's rows from L2 for problems past the
// cache size; for problems that fit in L2 the time may be flattered.
#pragma once

#include <vector>

#include "backend.h"
#include "bench_configs.h"
#include "bench_result.h"

namespace mla::tools::bench {

struct VulkanRunOptions {
  int min_runs = 5;
  int max_runs = 30;
  double target_ms = 3000;       // wall time of the timed runs (uploads included)
  double check_max_flops = 2e9;  // as CudaRunOptions
  uint64_t seed = 1;
};

Status run_vulkan_config(Runner& runner, const BenchConfig& c, const VulkanRunOptions& o,
                         std::vector<Measurement>* out);

}  // namespace mla::tools::bench
