// tools/bench/bench_timer.h - device-time measurement: one CUDA event pair
// around each iteration, all iterations enqueued before the host waits, so
// the host's launch rate shows only where it stalls the device.
#pragma once

#include <cuda_runtime_api.h>

#include <functional>
#include <vector>

#include "bench_stats.h"
#include "mla/status.h"

namespace mla::tools::bench {

// Enqueues body(i) for i in [0, count) on `stream` between an event pair of
// its own, then waits and reads every pair. Events are created and destroyed
// here; ms receives count times in milliseconds.
Status time_each(cudaStream_t stream, int count, const std::function<Status(int)>& body, std::vector<double>* ms);

// Warm-up, then a timed series sized from the warm-up: runs = target_ms /
// (warm-up median), clamped to [min_runs, max_runs]. warmup runs at least
// `min_warmup` iterations (also: until the clocks have settled a little).
struct TimingPlan {
  int min_warmup = 10;
  int min_runs = 30;
  int max_runs = 2000;
  double target_ms = 200;
};
Status time_series(cudaStream_t stream, const TimingPlan& plan, const std::function<Status(int)>& body,
                   TimeStats* stats);

}  // namespace mla::tools::bench
