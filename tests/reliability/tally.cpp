// Counts of tried cases (tests/reliability/tally.h).
#include "tally.h"

#include <cstdio>
#include <map>
#include <mutex>
#include <utility>

#include "backend.h"
#include "mla_test.h"

namespace rel {

namespace {

std::map<std::pair<std::string, std::string>, int64_t>& counts() {
  static std::map<std::pair<std::string, std::string>, int64_t> m;
  return m;
}
std::mutex g_mutex;

}  // namespace

void count(const std::string& category, const std::string& item, int64_t n) {
  std::lock_guard<std::mutex> lock(g_mutex);
  counts()[{category, item}] += n;
}

int run_and_report(int argc, char** argv, const std::function<std::string()>& unavailable) {
  const int rc = mla::test::run_suite(argc, argv, unavailable);
  if (rc == 77) return rc;
  const std::string name = backend().name();
  for (const auto& [key, n] : counts())
    std::printf("COUNT %s | %s | %s | %lld\n", name.c_str(), key.first.c_str(), key.second.c_str(), (long long)n);
  return rc;
}

}  // namespace rel
