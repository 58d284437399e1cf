// Split-K: every split count agrees with the reference and with the others;
// batch-invariant mode is bitwise independent of the rest of the batch;
// repeated runs are bitwise identical.
#include <doctest/doctest.h>

#include <cstring>

#include "vk_fixture.h"

using mla::test::HostProblem;
using mla::test::ProblemSpec;

namespace {

bool same_bits(const void* a, const void* b, size_t bytes) { return std::memcmp(a, b, bytes) == 0; }

ProblemSpec split_spec(uint64_t seed) {
  ProblemSpec s;
  s.seed = seed;
  s.num_heads = 16;
  s.mask = mla::MaskKind::causal;
  s.page_size = 16;
  s.q_lens = {1, 3, 2, 0};
  s.kv_lens = {700, 333, 64, 5};
  return s;
}

}  // namespace

TEST_CASE("splits: counts 1..7 and auto match the reference and each other") {
  const bool coopmat = vk_test::context().device_info().decode != "fp32";
  for (auto formats : {std::make_pair(mla::RowFormat::bf16, mla::RowFormat::bf16),
                       std::make_pair(mla::RowFormat::fp8_rope640, mla::RowFormat::fp8_rope640)}) {
    ProblemSpec s = split_spec(vk_test::run_seed() + 10);
    s.q_format = formats.first;
    s.kv_format = formats.second;
    HostProblem p = mla::test::make_problem(s);
    const mla::test::Reference ref = mla::test::run_reference(p);
    p.desc.num_splits = 1;
    const vk_test::Result one = vk_test::run(p);
    for (int n = 0; n <= 7; ++n) {
      p.desc.num_splits = n;
      const vk_test::Result r = vk_test::run(p);
      const auto c = mla::test::compare(p, r.out.data(), r.lse.data(), ref);
      INFO(p.describe());
      CHECK_MESSAGE(c.ok, c.first_failure);
      const mla::test::UlpStats u = mla::test::ulp_diff(p, one.out.data(), r.out.data());
      MESSAGE("splits " << n << " vs 1: " << u.to_string());
      if (!coopmat) {
        // Same values merged in a different order: a few BF16 ULPs at most.
        CHECK(u.max_ulp <= 4);
      } else {
        // The cooperative-matrix decode also rounds P to FP16 against each
        // partition's own running maximum (2^-12 of each weight) and scales
        // each key tile by its own power of two: the bound of a BF16-P
        // kernel (32 ULPs at the floor), and nearly all within 3.
        CHECK(u.max_ulp <= 32);
        CHECK(u.hist[0] + u.hist[1] + u.hist[2] + u.hist[3] >= u.count * 99 / 100);
      }
    }
  }
}

TEST_CASE("splits: batch-invariant results do not depend on the rest of the batch") {
  ProblemSpec s;
  s.seed = vk_test::run_seed() + 20;
  s.num_heads = 8;
  s.page_size = 64;
  s.mask = mla::MaskKind::sliding_window;
  s.window = 3000;
  s.q_lens = {2, 1, 3, 1};
  s.kv_lens = {5000, 900, 4200, 2100};  // several MLA_INVARIANT_SPLIT_KEYS partitions
  s.batch_invariant = true;
  const HostProblem p = mla::test::make_problem(s);
  const vk_test::Result all = vk_test::run(p);
  vk_test::check_against_reference(p, all);

  // Request 2 alone, and in another batch (other order, a different neighbour).
  const HostProblem alone = vk_test::select_requests(p, {2});
  const vk_test::Result r_alone = vk_test::run(alone);
  const HostProblem mixed = vk_test::select_requests(p, {1, 2, 1, 0});
  const vk_test::Result r_mixed = vk_test::run(mixed);
  const auto want_out = vk_test::request_out(p, all, 2);
  const auto want_lse = vk_test::request_lse(p, all, 2);
  for (const auto* other : {&r_alone, &r_mixed}) {
    const HostProblem& q = other == &r_alone ? alone : mixed;
    const int b = other == &r_alone ? 0 : 1;
    const auto got_out = vk_test::request_out(q, *other, b);
    const auto got_lse = vk_test::request_lse(q, *other, b);
    REQUIRE(got_out.size() == want_out.size());
    CHECK(same_bits(got_out.data(), want_out.data(), want_out.size() * 2));
    CHECK(same_bits(got_lse.data(), want_lse.data(), want_lse.size() * 4));
  }
  // Without the option the automatic split follows the batch; the result
  // still matches the reference.
  HostProblem free_split = mixed;
  free_split.desc.batch_invariant = false;
  vk_test::check_against_reference(free_split, vk_test::run(free_split));
}

TEST_CASE("splits: repeated runs are bitwise identical") {
  for (int n : {0, 1, 5}) {
    HostProblem p = mla::test::make_problem(split_spec(vk_test::run_seed() + 30));
    p.desc.num_splits = n;
    const vk_test::Result a = vk_test::run(p), b = vk_test::run(p);
    CHECK(same_bits(a.out.data(), b.out.data(), a.out.size() * 2));
    CHECK(same_bits(a.lse.data(), b.lse.data(), a.lse.size() * 4));
  }
}
