// tools/bench/bench_result.h - what one timed (config, mode, kernel) gives,
// whichever backend ran it.
#pragma once

#include <cstdint>
#include <string>

#include "bench_card.h"
#include "bench_check.h"
#include "bench_stats.h"

namespace mla::tools::bench {

// The two ceilings of the run (bench_limits.h measures them on CUDA; a
// Vulkan run without a CUDA device has the Vulkan copy and no GEMM rate).
struct Limits {
  double copy_gbps = 0;      // bytes read + bytes written per second / 1e9
  int64_t copy_bytes = 0;    // size of the copied buffer (read once, written once)
  int copy_runs = 0;
  // Which copy: "cuda_memcpy" (cudaMemcpyAsync device to device) or
  // "vulkan_compute_copy" (mla::vulkan::Context::copy_bandwidth).
  std::string copy_kind;
  double gemm_tflops = 0;    // 2 n^3 per product / s / 1e12
  int gemm_n = 0;
  int gemm_runs = 0;
};

struct Measurement {
  std::string mode;              // "graph" (CUDA-graph replay), "eager" (launches every run) or
                                 // "layer" (graph replay of decode() alone, planned once before)
  std::string kernel;            // what ran: "sm90", "portable_big", "vulkan"
  std::string kernel_requested;  // --kernel: "auto", "portable", "sm90"
  std::string timer;             // "cuda_events" or "vk_timestamps"
  TimeStats time;
  int sets = 0;                  // rotation sets (distinct inputs) cycled through
  double rotated_bytes = 0;      // bytes those sets span: how far past L2 the rotation reaches
  CardState state;               // clocks right after the timed runs
  CheckResult check;
  std::string note;              // e.g. why graph output differs from eager
};

}  // namespace mla::tools::bench
