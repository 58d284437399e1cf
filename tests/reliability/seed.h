// tests/reliability/seed.h - the random seed of a run: fresh each time,
// printed once, MLA_TEST_SEED repeats a run.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace rel {

inline uint64_t run_seed() {
  static const uint64_t seed = [] {
    const char* v = std::getenv("MLA_TEST_SEED");
    const uint64_t s = v && *v ? std::strtoull(v, nullptr, 10)
                               : (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
    std::printf("reliability seed %llu (MLA_TEST_SEED=%llu repeats this run)\n", (unsigned long long)s,
                (unsigned long long)s);
    return s;
  }();
  return seed;
}

}  // namespace rel
