// tools/bench/bench_stats.h - the statistics of a series of timed runs.
// The median is the reported time: launch jitter and clock ramps skew the
// mean, not the median.
#pragma once

#include <vector>

namespace mla::tools::bench {

struct TimeStats {
  int runs = 0;
  double median_us = 0, min_us = 0, p10_us = 0, p90_us = 0, mean_us = 0;
};

TimeStats summarize(std::vector<double> ms);  // times in milliseconds

}  // namespace mla::tools::bench
