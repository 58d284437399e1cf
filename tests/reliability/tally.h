// tests/reliability/tally.h - how many cases of each kind a suite tried,
// printed when it ends (docs/RELIABILITY.md is filled from these lines).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace rel {

// Adds n to the count of (category, item), e.g. ("bad input", "mla run: rejected").
void count(const std::string& category, const std::string& item, int64_t n = 1);

// mla::test::run_suite, then one line per count:
//   COUNT <backend> | <category> | <item> | <n>
// (nothing is printed when the suite is skipped with exit status 77).
int run_and_report(int argc, char** argv, const std::function<std::string()>& unavailable);

}  // namespace rel
