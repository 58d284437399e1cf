// Determinism: the same inputs give bitwise identical outputs run after run;
// in batch-invariant mode a request's output is bitwise identical whatever
// else shares its batch and wherever it sits (FlashMLA users saw 1-2 ULP
// flips that change an argmax); with any split count the result stays within
// the stated tolerance of the float64 reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "backend.h"
#include "bits.h"
#include "problem_edit.h"
#include "seed.h"
#include "tally.h"

using mla::RowFormat;
using mla::test::HostProblem;
using mla::test::ProblemSpec;

namespace {

bool same_bits(const rel::Run& a, const rel::Run& b) { return a.out == b.out && rel::same_bits(a.lse, b.lse); }

// Rows of request b of p in a run.
std::vector<uint16_t> request_rows(const HostProblem& p, const rel::Run& r, int32_t b, std::vector<float>* lse) {
  const int64_t H = p.desc.num_heads, r0 = p.q_offsets[size_t(b)] * H, r1 = p.q_offsets[size_t(b) + 1] * H;
  lse->assign(r.lse.begin() + r0, r.lse.begin() + r1);
  return std::vector<uint16_t>(r.out.begin() + r0 * MLA_DIM_V, r.out.begin() + r1 * MLA_DIM_V);
}

void check_reference(const HostProblem& p, const rel::Run& r) {
  const mla::test::CompareResult c = mla::test::compare(p, r.out.data(), r.lse.data(), mla::test::run_reference(p));
  INFO(rel::backend().name() << ": " << p.describe() << "; max error / tolerance " << c.max_err_over_tol);
  CHECK_MESSAGE(c.ok, c.first_failure);
}

}  // namespace

TEST_CASE("determinism: repeated runs are bitwise identical") {
  const auto specs = mla::test::config_matrix(rel::run_seed() ^ 0xD1, 9, 1200);
  for (const ProblemSpec& s : specs) {
    const HostProblem p = mla::test::make_problem(s);
    const rel::Run first = rel::must_decode(p);
    for (int rep = 0; rep < 2; ++rep) {
      const rel::Run again = rel::must_decode(p);
      INFO(rel::backend().name() << ": run " << rep + 2 << " of " << p.describe());
      CHECK(same_bits(first, again));
      rel::count("determinism", "repeated runs compared bitwise");
    }
  }
}

TEST_CASE("determinism: in batch-invariant mode a request's output does not depend on its batch") {
  std::mt19937_64 rng(rel::run_seed() ^ 0xD2);
  for (const auto& pair : {std::make_pair(RowFormat::bf16, RowFormat::bf16),
                           std::make_pair(RowFormat::bf16, RowFormat::fp8_rope640),
                           std::make_pair(RowFormat::fp8_rope640, RowFormat::fp8_rope640)}) {
    // Request 0 is the one watched: long enough for several 2048-key
    // partitions. The others are short and long, so a batch-dependent split
    // would choose differently around it.
    ProblemSpec s;
    s.seed = rng();
    s.num_heads = 16;
    s.q_format = pair.first;
    s.kv_format = pair.second;
    s.mask = mla::MaskKind::causal;
    s.page_size = 64;
    s.q_lens = std::vector<int32_t>{2, 1, 4, 1, 2, 1};
    s.kv_lens = std::vector<int32_t>{4500 + int32_t(rng() % 500), 1, 6000, 37, 2049, 900};
    s.batch_invariant = true;
    const HostProblem all = mla::test::make_problem(s);
    const std::vector<std::vector<int32_t>> batches = {
        {0}, {0, 1}, {2, 0}, {1, 3, 0, 5}, {2, 4, 0, 1, 3, 5}, {5, 4, 3, 2, 1, 0}, {0, 2, 4}};
    std::vector<uint16_t> first_out;
    std::vector<float> first_lse;
    for (const auto& which : batches) {
      const HostProblem p = rel::subset(all, which);
      const rel::Run r = rel::must_decode(p);
      const int32_t at = int32_t(std::find(which.begin(), which.end(), 0) - which.begin());
      std::vector<float> lse;
      const std::vector<uint16_t> out = request_rows(p, r, at, &lse);
      if (first_out.empty()) {
        check_reference(p, r);
        first_out = out, first_lse = lse;
        continue;
      }
      INFO(rel::backend().name() << ": request 0 at position " << at << " of " << p.describe());
      CHECK(out == first_out);
      CHECK(rel::same_bits(lse, first_lse));
      rel::count("determinism", "batch-invariant placements compared bitwise");
    }
  }
}

TEST_CASE("determinism: every split count stays within tolerance of the reference") {
  std::mt19937_64 rng(rel::run_seed() ^ 0xD3);
  int variant = 0;
  for (int32_t splits : {1, 2, 3, 4, 7, 16, 64, 0})
    for (int inv = 0; inv < (splits == 0 ? 2 : 1); ++inv) {
      ProblemSpec s;
      s.seed = rng();
      s.num_heads = variant % 2 ? 20 : 8;
      s.q_format = variant % 3 == 2 ? RowFormat::fp8_rope640 : RowFormat::bf16;
      s.kv_format = variant % 3 == 0 ? RowFormat::bf16 : RowFormat::fp8_rope640;
      s.mask = variant % 2 ? mla::MaskKind::causal : mla::MaskKind::none;
      ++variant;
      s.page_size = 32;
      s.q_lens = std::vector<int32_t>{1, 3, 2};
      s.kv_lens = {3000, 5 + int32_t(rng() % 60), 700 + int32_t(rng() % 900)};
      s.num_splits = splits;
      s.batch_invariant = inv == 1;
      const HostProblem p = mla::test::make_problem(s);
      check_reference(p, rel::must_decode(p));
      rel::count("determinism", "split counts checked against the reference");
    }
}
