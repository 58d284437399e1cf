// The CUDA backend against the float64 reference: the randomised matrix of
// the backend suites, long requests (many tiles, real splits), every head
// count shape class, every page size, ragged q_len up to 16. Each problem
// runs on every kernel of kernels_under_test(); outputs start poisoned and
// the free cache slots hold NaN, so an unwritten element or a read of a slot
// outside the request fails the comparison. Tolerance: mla::test::Tolerance
// (BF16 output rounding plus the BF16 rounding of P for the tensor cores).
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "cuda_harness.h"

namespace {

using namespace mla;
using namespace mla::test;

// Runs each spec on every kernel under test and checks it against the
// reference; prints the pass count and the worst error / tolerance per
// format pair (the margin left).
void check_specs(const std::vector<ProblemSpec>& specs, const std::string& name) {
  const auto kernels = gpu::kernels_under_test();
  int failed = 0, runs = 0;
  std::map<std::string, double> worst, worst_lse, worst_l2;
  for (const ProblemSpec& s : specs) {
    const HostProblem p = make_problem(s);
    const Reference ref = run_reference(p);
    for (mla::cuda::Kernel k : kernels) {
      mla::cuda::PlanOptions opt;
      opt.kernel = k;
      const gpu::Result r = gpu::run(p, opt);
      ++runs;
      const CompareResult c = gpu::check_against_reference(p, ref, r, gpu::kernel_label(k));
      if (!c.ok || r.status != 0u) ++failed;
      const std::string key =
          std::string(to_string(p.desc.q_format)) + "/" + to_string(p.desc.kv_format) + " " + mla::cuda::to_string(k);
      worst[key] = std::max(worst[key], c.max_err_over_tol);
      worst_lse[key] = std::max(worst_lse[key], c.max_lse_err_over_tol);
      worst_l2[key] = std::max(worst_l2[key], c.max_rel_l2);
    }
  }
  std::ostringstream margins;
  for (const auto& [key, w] : worst)
    margins << "\n    worst error / tolerance " << key << ": " << w << " (LSE " << worst_lse[key]
            << "; worst row relative L2 error " << worst_l2[key] << ")";
  MESSAGE(name << ": " << runs - failed << " of " << runs << " runs within tolerance" << margins.str());
}

ProblemSpec spec(int H, RowFormat qf, RowFormat kvf, MaskKind m, int page, std::vector<int32_t> q,
                 std::vector<int32_t> kv, uint64_t seed) {
  ProblemSpec s;
  s.num_heads = H;
  s.q_format = qf;
  s.kv_format = kvf;
  s.mask = m;
  if (m == MaskKind::sliding_window) s.window = 97;
  if (m == MaskKind::chunked) s.chunk = 130;
  s.page_size = page;
  s.q_lens = std::move(q);
  s.kv_lens = std::move(kv);
  s.seed = seed;
  return s;
}

const RowFormat kBf = RowFormat::bf16, kFp = RowFormat::fp8_rope640;
const std::pair<RowFormat, RowFormat> kPairs[3] = {{kBf, kBf}, {kBf, kFp}, {kFp, kFp}};

}  // namespace

TEST_CASE("cuda: the randomised configuration matrix matches the reference") {
  check_specs(config_matrix(0xC0DA4, 96), "matrix");
}

TEST_CASE("cuda: long requests (many key tiles, automatic and explicit splits) match the reference") {
  check_specs(config_matrix(0xC0DA5, 18, 6000), "long matrix");
}

TEST_CASE("cuda: every head-count class, M tiles split across tokens") {
  std::vector<ProblemSpec> specs;
  const int heads[] = {1, 2, 3, 7, 8, 12, 16, 20, 24, 31, 32, 33, 48, 63, 64, 65, 96, 127, 128};
  int i = 0;
  for (int H : heads) {
    const auto pr = kPairs[i % 3];
    const MaskKind m = static_cast<MaskKind>(i % 4);
    // q_len 1, 3 and 16: 16 * H rows span up to 32 M tiles of 64 rows.
    specs.push_back(spec(H, pr.first, pr.second, m, 64, {1, 3, 16}, {150, 70, 200}, 1000 + i));
    ++i;
  }
  check_specs(specs, "head counts");
}

TEST_CASE("cuda: a wide batch of similar requests (the planner's one-part-per-request schedule)") {
  // 100 requests of 180..200 keys on a grid of >= 100 parts: no request costs
  // more than 5/4 of an even share, so each gets its own part, unsplit; also
  // with exactly 100 parts and with uneven lengths that force the cost-line cut.
  std::vector<ProblemSpec> specs;
  for (int v = 0; v < 3; ++v) {
    std::vector<int32_t> q(100), kv(100);
    for (int b = 0; b < 100; ++b) {
      q[b] = 1 + (b % 2);
      kv[b] = v < 2 ? 180 + (b * 7) % 21 : (b == 0 ? 6000 : 150);
    }
    const auto pr = kPairs[v];
    specs.push_back(spec(v == 1 ? 64 : 16, pr.first, pr.second, v == 0 ? MaskKind::causal : MaskKind::none, 16, q, kv,
                         3000 + v));
  }
  check_specs(specs, "wide batch");
  // The same with the grid pinned to exactly B parts.
  const HostProblem p = make_problem(specs[0]);
  const Reference ref = run_reference(p);
  mla::cuda::PlanOptions base;
  base.num_parts = 100;
  gpu::for_each_kernel(
      [&](const mla::cuda::PlanOptions& opt) { gpu::check_against_reference(p, ref, gpu::run(p, opt), "parts=100"); },
      base);
}

TEST_CASE("cuda: every page size from 1 to 512") {
  std::vector<ProblemSpec> specs;
  int i = 0;
  for (int page = 1; page <= 512; page *= 2, ++i) {
    const auto pr = kPairs[i % 3];
    specs.push_back(spec(16, pr.first, pr.second, static_cast<MaskKind>(i % 4), page, {2, 1, 4},
                         {page * 3 + 5, 700, 9}, 2000 + i));
  }
  check_specs(specs, "page sizes");
}

TEST_CASE("cuda: ragged q_len 0..16 in one batch, every mask") {
  std::vector<ProblemSpec> specs;
  for (int m = 0; m < 4; ++m) {
    std::vector<int32_t> q, kv;
    for (int i = 0; i <= 16; ++i) {
      q.push_back(i);
      kv.push_back(i + 40 * i + 3);
    }
    const auto pr = kPairs[m % 3];
    specs.push_back(spec(8, pr.first, pr.second, static_cast<MaskKind>(m), 16, q, kv, 3000 + m));
  }
  check_specs(specs, "ragged");
}

TEST_CASE("cuda: large logits and FP8 scales over six decades") {
  std::vector<ProblemSpec> specs;
  int i = 0;
  for (const auto& pr : kPairs) {
    ProblemSpec s = spec(16, pr.first, pr.second, MaskKind::causal, 32, {1, 2}, {500, 90}, 4000 + i++);
    s.value_sigma = 6.f;  // logits of hundreds: exp2 of large differences, near-one-hot softmax
    specs.push_back(s);
    ProblemSpec t = spec(20, pr.first, pr.second, MaskKind::none, 64, {3}, {333}, 4100 + i++);
    t.value_sigma = 0.02f;  // small BF16 values; FP8 rows get sigma over [1e-3, 1e3] * 0.02
    t.scale_lo = 1e-3f;
    t.scale_hi = 1e3f;
    specs.push_back(t);
  }
  check_specs(specs, "extreme values");
}

TEST_CASE("cuda: an empty batch and a batch without query tokens are no-ops") {
  for (int32_t B : {0, 3}) {
    ProblemSpec s = spec(16, kBf, kBf, MaskKind::none, 16, std::vector<int32_t>(B, 0), std::vector<int32_t>(B, 40), 5);
    const HostProblem p = make_problem(s);
    const gpu::Result r = gpu::run(p);
    CHECK(r.out.empty());
    CHECK(r.status == 0u);
  }
}

// Small on purpose: tools/gpu-check runs it under compute-sanitizer memcheck
// and racecheck (every format pair, every mask, split and unsplit, a partial
// last M tile, page sizes below and above the key tile).
TEST_CASE("cuda: sanitizer subset") {
  std::vector<ProblemSpec> specs;
  int i = 0;
  for (const auto& pr : kPairs) {
    specs.push_back(spec(20, pr.first, pr.second, static_cast<MaskKind>(i % 4), 8, {1, 4}, {140, 90}, 6000 + i));
    ProblemSpec s = spec(72, pr.first, pr.second, static_cast<MaskKind>((i + 1) % 4), 128, {2}, {300}, 6100 + i);
    s.num_splits = 3;
    specs.push_back(s);
    ++i;
  }
  check_specs(specs, "sanitizer subset");
}
