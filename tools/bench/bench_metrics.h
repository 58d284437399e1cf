// tools/bench/bench_metrics.h - the work a config asks for: the fewest bytes
// a decode must move and the matrix FLOPs it must do. GB/s and TFLOPS of a
// result are these over its time.
#pragma once

#include "bench_configs.h"

namespace mla::tools::bench {

struct Workload {
  double kv_bytes = 0;   // every key some query of a request sees, read once: rows (+ 4-byte fp8 scales)
  double q_bytes = 0;    // Q rows (+ fp8 scales per token)
  double out_bytes = 0;  // BF16 output + float LSE
  double bytes = 0;      // the sum
  double flops = 0;      // 2 * H * (576 + 512) per visible (query, key) pair
  double visible_pairs = 0;  // (query token, key) pairs, summed over requests, before x H
};

Workload workload(const BenchConfig& c);

}  // namespace mla::tools::bench
