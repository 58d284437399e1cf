// tools/bench/bench_host_problem.h - a config as a host-memory problem (one
// set, shuffled pages, fresh random values of the same ranges as the device
// fill in bench_fill.h) for backends that take host buffers (Vulkan's
// decode_host).
#pragma once

#include <cstdint>

#include "bench_configs.h"
#include "owned_problem.h"

namespace mla::tools::bench {

OwnedProblem make_host_problem(const BenchConfig& c, uint64_t seed);

}  // namespace mla::tools::bench
