// Median and spread of timed runs (bench_stats.h).
#include "bench_stats.h"

#include <algorithm>

namespace mla::tools::bench {

TimeStats summarize(std::vector<double> ms) {
  TimeStats s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  auto at = [&](double q) { return ms[std::min(n - 1, size_t(q * double(n - 1) + 0.5))] * 1e3; };
  s.runs = int(n);
  s.median_us = n % 2 ? ms[n / 2] * 1e3 : 0.5e3 * (ms[n / 2 - 1] + ms[n / 2]);
  s.min_us = ms.front() * 1e3;
  s.p10_us = at(0.1);
  s.p90_us = at(0.9);
  double sum = 0;
  for (double x : ms) sum += x;
  s.mean_us = sum / double(n) * 1e3;
  return s;
}

}  // namespace mla::tools::bench
