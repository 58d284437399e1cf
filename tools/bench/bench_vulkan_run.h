// tools/bench/bench_vulkan_run.h - one config on the Vulkan backend through
// the tools' Runner. The checked run goes through Context::decode_host; the
// timed runs through Context::time_decode_host: the inputs are uploaded once
// and stay on the device, ~0.5 s of untimed decodes back to back let the
// GPU raise its clocks (uploads before every decode kept an H200 idle and
// its clocks low: 5x the time), then each timed decode's time comes from
// timestamp queries around its recorded passes; the median is reported.
// Nothing evicts L2 between runs: a problem smaller than L2 may be
// flattered (rotated_mb says how much one run reads; the issue-3 shapes read
// ~600 MB of KV per run, far past a 50 MB L2).
#pragma once

#include <vector>

#include "backend.h"
#include "bench_configs.h"
#include "bench_result.h"

namespace mla::tools::bench {

struct VulkanRunOptions {
  int min_runs = 10;
  int max_runs = 2000;
  double target_ms = 200;        // GPU time of the timed runs: runs = target_ms / the checked run's time, clamped
  double warmup_ms = 500;        // wall time of untimed decodes before the timed ones
  double check_max_flops = 2e9;  // as CudaRunOptions
  uint64_t seed = 1;
};

Status run_vulkan_config(Runner& runner, const BenchConfig& c, const VulkanRunOptions& o,
                         std::vector<Measurement>* out);

}  // namespace mla::tools::bench
