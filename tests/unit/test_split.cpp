// mla/split.h: the split-K partition helpers every backend shares.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "mla/split.h"

using namespace mla;

TEST_CASE("split_chunk: aligned, covering, minimal") {
  for (int32_t align : {1, 16, 32, 64, 128})
    for (int64_t len = 0; len <= 2100; len += (len < 300 ? 1 : 37))
      for (int32_t n = -1; n <= MLA_MAX_SPLITS; ++n) {
        const int64_t c = split_chunk(len, n, align);
        const int64_t pieces = n < 1 ? 1 : n;
        INFO("len " << len << " n " << n << " align " << align << " chunk " << c);
        REQUIRE(c % align == 0);
        REQUIRE(c >= align);
        REQUIRE(pieces * c >= len);  // the n partitions cover the range
        // Minimal: one align step less would leave keys uncovered.
        if (c > align) REQUIRE((c - align) * pieces < len);
        // Walking the partitions visits every key exactly once.
        int64_t covered = 0;
        for (int64_t j = 0; j < pieces; ++j) {
          const int64_t b = j * c, e = b + c < len ? b + c : len;
          if (e > b) covered += e - b;
        }
        REQUIRE(covered == len);
      }
  CHECK(split_chunk(1000, 4, 64) == 256);
  CHECK(split_chunk(1000, 3, 64) == 384);
  CHECK(split_chunk(5, 64, 64) == 64);
}

TEST_CASE("invariant_chunk / invariant_splits: a function of kv_len alone, at most 64 partitions") {
  std::vector<int64_t> lens;
  for (int64_t kv = 0; kv <= 20000; kv += 7) lens.push_back(kv);
  for (int64_t k = 1; k <= 40; ++k)
    for (int64_t d : {-1, 0, 1}) lens.push_back(k * MLA_INVARIANT_SPLIT_KEYS * MLA_MAX_SPLITS / 4 + d);
  lens.push_back((int64_t(1) << 31) - 1);
  for (int64_t kv : lens) {
    const int64_t c = invariant_chunk(kv);
    const int32_t n = invariant_splits(kv);
    INFO("kv_len " << kv << " chunk " << c << " splits " << n);
    REQUIRE(c % MLA_INVARIANT_SPLIT_KEYS == 0);
    REQUIRE(((c / MLA_INVARIANT_SPLIT_KEYS) & (c / MLA_INVARIANT_SPLIT_KEYS - 1)) == 0);  // 2048 * 2^j
    REQUIRE(n >= 1);
    REQUIRE(n <= MLA_MAX_SPLITS);
    REQUIRE(int64_t(n) * c >= kv);
    REQUIRE(n == (kv == 0 ? 1 : (kv + c - 1) / c));
    // The chunk is the smallest 2048 * 2^j that needs at most 64 partitions.
    if (c > MLA_INVARIANT_SPLIT_KEYS) REQUIRE((kv + c / 2 - 1) / (c / 2) > MLA_MAX_SPLITS);
  }
  CHECK(invariant_chunk(0) == MLA_INVARIANT_SPLIT_KEYS);
  CHECK(invariant_splits(2048) == 1);
  CHECK(invariant_splits(2049) == 2);
  CHECK(invariant_splits(64 * 2048) == 64);
  CHECK(invariant_chunk(64 * 2048 + 1) == 4096);
  CHECK(invariant_splits(64 * 2048 + 1) == 33);
}
