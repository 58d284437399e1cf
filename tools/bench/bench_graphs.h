// tools/bench/bench_graphs.h - one instantiated CUDA graph per rotation set,
// each holding what body(set) enqueues (planner + decode + combine): replays
// then cost one launch, as in a serving engine that captures its decode step.
#pragma once

#include <cuda_runtime_api.h>

#include <functional>
#include <vector>

#include "mla/status.h"

namespace mla::tools::bench {

class GraphSet {
 public:
  GraphSet() = default;
  GraphSet(const GraphSet&) = delete;
  GraphSet& operator=(const GraphSet&) = delete;
  ~GraphSet();

  // Captures body(s) on `stream` for s in [0, count) and instantiates each.
  Status capture(int count, cudaStream_t stream, const std::function<Status(int)>& body);
  // Replays graph i % count on `stream`.
  Status launch(int i, cudaStream_t stream) const;

 private:
  std::vector<cudaGraphExec_t> exec_;
};

}  // namespace mla::tools::bench
