// Paging, split options and empty batches do not change the reference: the
// same logical problem laid out with every page size, in a continuous-batching
// cache, or with any split option gives bitwise identical results.
#include <doctest/doctest.h>

#include <cstring>

#include "mla_test.h"
#include "wide_spec.h"

using namespace mla;
using namespace mla::test;

namespace {

bool same_bits(const Reference& a, const Reference& b) {
  // (empty vectors may have null data(), which memcmp must not see)
  return a.out.size() == b.out.size() && a.lse.size() == b.lse.size() &&
         (a.out.empty() || std::memcmp(a.out.data(), b.out.data(), a.out.size() * 4) == 0) &&
         (a.lse.empty() || std::memcmp(a.lse.data(), b.lse.data(), a.lse.size() * 4) == 0);
}

}  // namespace

TEST_CASE("paging: every page size 1..512 and a contiguous cache give the same bits") {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 12; ++i) {
    const HostProblem p = make_problem(wide_spec(rng, i, 40000));
    INFO(p.describe());
    const Reference base = run_reference(p);
    for (int32_t P = 1; P <= MLA_MAX_PAGE_SIZE; P *= 2) {
      INFO("page_size " << P);
      CHECK(same_bits(base, run_reference(repage(p, P, rng()))));
    }
    int32_t longest = 1;
    for (int32_t kv : p.kv_lens) longest = std::max(longest, kv);
    for (int32_t slot_tokens : {longest, longest + 1, (longest + 63) / 64 * 64 + 24}) {
      INFO("contiguous slot " << slot_tokens);
      const HostProblem c = contiguous(p, slot_tokens);
      CHECK((c.desc.page_size & (c.desc.page_size - 1)) == 0);
      CHECK(same_bits(base, run_reference(c)));
    }
  }
}

TEST_CASE("paging: a shared page and a perturbed page-table entry") {
  // Two requests may point at the same page (prefix sharing): both read it.
  ProblemSpec s;
  s.num_heads = 2;
  s.page_size = 8;
  s.q_lens = {1, 1};
  s.kv_lens = {16, 16};
  s.seed = 8;
  HostProblem p = make_problem(s);
  const int32_t mp = p.desc.max_pages;
  HostProblem shared = p;
  shared.page_table[size_t(mp)] = p.page_table[0];  // request 1's first page = request 0's
  const Reference a = run_reference(p), b = run_reference(shared);
  CHECK(std::memcmp(a.out.data(), b.out.data(), 2 * MLA_DIM_V * 4) == 0);    // request 0 unchanged
  CHECK(std::memcmp(&a.out[2 * MLA_DIM_V], &b.out[2 * MLA_DIM_V], 2 * MLA_DIM_V * 4) != 0);  // request 1 moved
  // Pointing an entry beyond kv_len's pages at a NaN spare page changes nothing.
  HostProblem beyond = p;
  beyond.page_table[2] = p.desc.num_pages - 1;
  CHECK(same_bits(a, run_reference(beyond)));
}

TEST_CASE("split options and batch 0 do not change the reference") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 4; ++i) {
    HostProblem p = make_problem(wide_spec(rng, i, 30000));
    const Reference base = run_reference(p);
    for (int32_t n : {1, 2, 5, 64}) {
      p.desc.num_splits = n;
      CHECK(same_bits(base, run_reference(p)));
    }
    p.desc.batch_invariant = true;
    CHECK(same_bits(base, run_reference(p)));
  }
  // B = 0: a no-op that leaves the (poisoned) outputs alone.
  ProblemDesc d;
  d.num_heads = 16;
  d.softmax_scale = 0.1f;
  d.page_size = 64;
  std::vector<uint16_t> unused_bf16(1);
  std::vector<float> out(4), lse(4);
  poison(unused_bf16, out);
  poison(unused_bf16, lse);
  CHECK(reference_decode(d, ProblemData(), out.data(), lse.data()).ok());
  for (int i = 0; i < 4; ++i) CHECK((is_poison(out[size_t(i)]) && is_poison(lse[size_t(i)])));
}
