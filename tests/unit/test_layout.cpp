// contiguous_layout: a continuous-batching cache expressed as a paged one.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "mla/types.h"
#include "mla/validate.h"

using namespace mla;

TEST_CASE("contiguous_layout: token t of request b lands on flat row b * slot_tokens + t") {
  for (int32_t batch : {1, 2, 5})
    for (int32_t slot = 1; slot <= 3000; slot += (slot < 600 ? 1 : 61)) {
      const ContiguousLayout probe = contiguous_layout(batch, slot, nullptr);
      std::vector<int32_t> table(size_t(batch) * size_t(probe.max_pages), -7);
      const ContiguousLayout l = contiguous_layout(batch, slot, table.data());
      INFO("batch " << batch << " slot_tokens " << slot << " page_size " << l.page_size);
      REQUIRE(l.page_size == probe.page_size);
      REQUIRE(l.page_size >= 1);
      REQUIRE(l.page_size <= MLA_MAX_PAGE_SIZE);
      REQUIRE((l.page_size & (l.page_size - 1)) == 0);
      REQUIRE(slot % l.page_size == 0);
      // The largest such page: doubling it would not divide the slot or pass 512.
      REQUIRE((2 * l.page_size > MLA_MAX_PAGE_SIZE || slot % (2 * l.page_size) != 0));
      REQUIRE(int64_t(l.max_pages) * l.page_size == slot);
      REQUIRE(l.num_pages == batch * l.max_pages);
      for (int32_t b = 0; b < batch; ++b)
        for (int32_t t = 0; t < slot; ++t) {
          const int64_t row = int64_t(table[size_t(b) * l.max_pages + size_t(t / l.page_size)]) * l.page_size +
                              t % l.page_size;
          if (row != int64_t(b) * slot + t) FAIL("request " << b << " token " << t << " -> row " << row);
        }
    }
}

TEST_CASE("contiguous_layout: degenerate and unrepresentable requests give the empty layout") {
  int32_t canary = 12345;
  for (auto bs : {std::pair<int32_t, int32_t>{0, 64}, {5, 0}, {-1, 64}, {3, -8}, {1 << 20, 4097}}) {
    const ContiguousLayout l = contiguous_layout(bs.first, bs.second, &canary);
    INFO("batch " << bs.first << " slot_tokens " << bs.second);
    CHECK(l.page_size == 0);
    CHECK(l.max_pages == 0);
    CHECK(l.num_pages == 0);
    CHECK(canary == 12345);
  }
  // The largest representable pool still works: 2^20 requests of 2048 tokens in 512-token pages.
  const ContiguousLayout big = contiguous_layout(1 << 20, 2048, nullptr);
  CHECK(big.page_size == 512);
  CHECK(big.num_pages == (1 << 22));
  // The empty layout cannot pass validation.
  ProblemDesc d;
  d.num_heads = 1;
  d.page_size = contiguous_layout(1 << 20, 4097, nullptr).page_size;
  CHECK_FALSE(validate_desc(d).ok());
}
