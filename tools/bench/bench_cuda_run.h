// tools/bench/bench_cuda_run.h - one config on the CUDA backend: eager
// launches (planner + decode every run), CUDA-graph replay (planner +
// decode captured once per rotation set, replayed) and, on request, "layer":
// graph replay of decode() alone after one run_planner per set (a serving
// engine plans once per decode step and decodes every layer with that plan,
// as FlashMLA's and FlashInfer's published times assume), each a median of
// CUDA-event-timed runs after warm-up, inputs rotated past L2.
#pragma once

#include <vector>

#include "bench_card.h"
#include "bench_configs.h"
#include "bench_result.h"
#include "bench_timer.h"
#include "mla/cuda.h"

namespace mla::tools::bench {

struct CudaRunOptions {
  mla::cuda::Kernel kernel = mla::cuda::Kernel::automatic;
  bool eager = true, graph = true, layer = false;
  TimingPlan timing;
  double l2_multiple = 4;     // the sets together span at least this many L2s...
  int max_sets = 256;         // ...with at most this many sets...
  double memory_share = 0.6;  // ...in at most this share of the free device memory
  double check_max_flops = 2e9;  // reference-check one request when it costs at most this (0: never)
  uint64_t seed = 1;
};

// Appends one Measurement per mode. unsupported when the requested kernel
// does not take the config (e.g. --kernel sm90 with an FP8 pair).
Status run_cuda_config(const BenchConfig& c, const CardInfo& card, const CudaRunOptions& o,
                       std::vector<Measurement>* out);

}  // namespace mla::tools::bench
