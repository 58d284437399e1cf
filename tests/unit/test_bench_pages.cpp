// The page tables `mla bench` times on (tools/bench/bench_problem.cpp): the
// rotation sets take disjoint pages of one pool, every page at most once,
// shuffled by default and in pool order with --page-order sequential; and
// the config names say which.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "bench_configs.h"
#include "bench_problem.h"
#include "mla_test.h"

using namespace mla::tools::bench;

int main(int argc, char** argv) { return mla::test::run_suite(argc, argv, nullptr); }

namespace {

BenchConfig uneven_config(bool sequential) {
  BenchConfig c;
  c.batch = 3;
  c.num_heads = 16;
  c.kv_lens = {130, 1, 64};  // 3 + 1 + 1 pages of 64
  c.page_size = 64;
  c.name = default_name(c);
  if (sequential) use_sequential_pages(&c);
  return c;
}

// The pages of every set, request after request, in table order.
std::vector<int32_t> dealt_pages(const BenchConfig& c, const std::vector<SetMetadata>& sets, int32_t max_pages) {
  std::vector<int32_t> pages;
  for (const SetMetadata& m : sets)
    for (int32_t b = 0; b < c.batch; ++b)
      for (int32_t j = 0; j < (c.kv_lens[size_t(b)] + c.page_size - 1) / c.page_size; ++j)
        pages.push_back(m.page_table[size_t(b) * size_t(max_pages) + size_t(j)]);
  return pages;
}

}  // namespace

TEST_CASE("bench pages: sets take disjoint pages of the pool, each once") {
  for (bool sequential : {false, true}) {
    const BenchConfig c = uneven_config(sequential);
    const mla::ProblemDesc d = describe(c, 4);
    REQUIRE(d.num_pages == 4 * 5);
    const std::vector<int32_t> pages = dealt_pages(c, make_metadata(c, d, 4, 7), d.max_pages);
    REQUIRE(pages.size() == size_t(d.num_pages));
    std::vector<int> seen(size_t(d.num_pages), 0);
    for (int32_t p : pages) {
      REQUIRE(p >= 0);
      REQUIRE(p < d.num_pages);
      ++seen[size_t(p)];
    }
    for (int n : seen) CHECK(n == 1);
    bool in_order = true;
    for (size_t i = 0; i < pages.size(); ++i) in_order = in_order && pages[i] == int32_t(i);
    CHECK(in_order == sequential);  // 20 pages shuffled in order: a 1 in 20! chance, and the seed is fixed
  }
}

TEST_CASE("bench pages: the name says the order") {
  CHECK(uneven_config(false).name == "b3_kvmix_h16_q1_p64");
  CHECK(uneven_config(true).name == "b3_kvmix_h16_q1_p64_seq");
}
