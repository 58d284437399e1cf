// The randomised configuration matrix against the float64 reference.
#include <doctest/doctest.h>

#include "vk_fixture.h"

using mla::test::ProblemSpec;

TEST_CASE("matrix: every configuration of the matrix matches the float64 reference") {
  // lavapipe is slow; MLA_VULKAN_MATRIX_COUNT selects a bigger matrix on a GPU.
  const int count = vk_test::env_int("MLA_VULKAN_MATRIX_COUNT", 48);
  const auto specs = mla::test::config_matrix(vk_test::run_seed(), count);
  for (const ProblemSpec& s : specs) {
    const auto p = mla::test::make_problem(s);
    const auto r = vk_test::run(p);
    vk_test::check_against_reference(p, r);
  }
}

TEST_CASE("matrix: long ragged queries (q_len up to 16) and every page size") {
  std::mt19937_64 rng(vk_test::run_seed() + 1);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int pages[] = {1, 2, 4, 8, 32, 128, 512};
  const mla::MaskKind masks[] = {mla::MaskKind::none, mla::MaskKind::causal, mla::MaskKind::sliding_window,
                                 mla::MaskKind::chunked};
  for (int c = 0; c < 7; ++c) {
    ProblemSpec s;
    s.seed = rng();
    s.num_heads = c % 2 ? 24 : 3;
    s.page_size = pages[c];
    s.mask = masks[c % 4];
    if (s.mask == mla::MaskKind::sliding_window) s.window = uni(1, 40);
    if (s.mask == mla::MaskKind::chunked) s.chunk = uni(1, 40);
    s.q_format = c % 3 == 2 ? mla::RowFormat::fp8_rope640 : mla::RowFormat::bf16;
    s.kv_format = c % 3 == 0 ? mla::RowFormat::bf16 : mla::RowFormat::fp8_rope640;
    s.num_splits = c % 3 == 1 ? 3 : 0;
    for (int b = 0; b < 3; ++b) {
      const int kv = uni(16, 600);
      s.kv_lens.push_back(kv);
      s.q_lens.push_back(b == 0 ? 16 : uni(5, 16));
    }
    const auto p = mla::test::make_problem(s);
    const auto r = vk_test::run(p);
    vk_test::check_against_reference(p, r);
  }
}
