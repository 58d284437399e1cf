// The split-K merge fused into the sm_90a (bf16, bf16) decode
// (cuda/src/sm90/sm90_fused_combine.cuh) against the combine kernel it replaces
// (MLA_FUSED_COMBINE=0): bitwise the same out and LSE, and within tolerance
// of the reference; the fused path must have run (its counter,
// cuda/src/testing.h) exactly where the plan's grid fits the device at once,
// and nowhere else. Covers wide units (>= 9 splits), row-chunk units (fixed
// splits), several M tiles, several splits of one request in one part, a
// flagged request next to split ones (its rows written by the decode), the
// counts left at zero (decode run twice on one plan) and a graph replay.
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda_harness.h"
#include "testing.h"

namespace {

using namespace mla;
using namespace mla::test;

#define CUDA_CHECK_OK(call) REQUIRE_MESSAGE((call) == cudaSuccess, #call)

// Sets MLA_FUSED_COMBINE for the scope ("" unsets it: the default, on).
struct FusedEnv {
  explicit FusedEnv(const char* v) {
    if (*v) setenv("MLA_FUSED_COMBINE", v, 1);
    else unsetenv("MLA_FUSED_COMBINE");
  }
  ~FusedEnv() { unsetenv("MLA_FUSED_COMBINE"); }
};

// Whether decode() should take the fused path for p under opt: the sm_90a
// kernel runs the pair (bf16, bf16) and its grid (one CTA a SM) fits.
bool expect_fused(const HostProblem& p, const mla::cuda::PlanOptions& opt) {
  mla::cuda::DecodePlan plan;
  REQUIRE(mla::cuda::make_plan(p.desc, &plan, opt).ok());
  return p.desc.total_q > 0 && (plan.kernel == mla::cuda::Kernel::automatic || plan.kernel == mla::cuda::Kernel::sm90) &&
         p.desc.q_format == RowFormat::bf16 && p.desc.kv_format == RowFormat::bf16 &&
         int64_t(plan.num_parts) * plan.max_m_tiles <= plan.sm_count;
}

bool hopper() {
  int dev = 0, major = 0, minor = 0;
  return cudaGetDevice(&dev) == cudaSuccess &&
         cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
         cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess && major == 9 &&
         minor == 0;
}

// Runs p with the combine kernel, then with the fused merge allowed; CHECKs
// that the bits agree and that the fused path ran iff expected. Returns the
// second result.
gpu::Result kernel_vs_fused(const HostProblem& p, const mla::cuda::PlanOptions& opt, const std::string& what) {
  const bool expected = hopper() && expect_fused(p, opt);
  gpu::Result unfused, fused;
  {
    FusedEnv env("0");
    const int64_t n0 = cuda_impl::fused_combine_decodes();
    unfused = gpu::run(p, opt);
    CHECK_MESSAGE(cuda_impl::fused_combine_decodes() == n0, what << ": fused with MLA_FUSED_COMBINE=0");
  }
  {
    FusedEnv env("");
    const int64_t n0 = cuda_impl::fused_combine_decodes();
    fused = gpu::run(p, opt);
    CHECK_MESSAGE(cuda_impl::fused_combine_decodes() - n0 == (expected ? 1 : 0),
                  what << ": fused path " << (expected ? "did not run" : "ran") << " (" << p.describe() << ")");
  }
  CHECK_MESSAGE(gpu::bitwise_equal(unfused.out, unfused.lse, fused.out, fused.lse),
                what << ": fused merge differs from the combine kernel (" << p.describe() << ")");
  CHECK(unfused.request_status == fused.request_status);
  CHECK(unfused.status == fused.status);
  return fused;
}

mla::cuda::PlanOptions with_max_q_len(const HostProblem& p) {
  mla::cuda::PlanOptions opt;
  int32_t m = 1;
  for (int32_t b = 0; b < p.desc.batch; ++b) m = std::max(m, p.q_offsets[size_t(b) + 1] - p.q_offsets[size_t(b)]);
  opt.max_q_len = m;
  return opt;
}

}  // namespace

TEST_CASE("cuda fused combine: the combine kernel's bits and the reference (wide and row-chunk units, M tiles)") {
  std::vector<std::pair<std::string, ProblemSpec>> cases;
  cases.push_back({"B1 H16 kv20000 (automatic: wide units)", gpu::long_request(16, 1, 20000, 3)});
  cases.push_back({"B1 H128 q2 kv2500 (4 M tiles, wide)", gpu::long_request(128, 2, 2500, 4)});
  {
    ProblemSpec s = gpu::long_request(16, 4, 1, 5);  // the bench's uneven batch, shorter
    s.q_lens = {4, 4, 4, 4};
    s.kv_lens = {1641, 15118, 730, 696};
    cases.push_back({"uneven B4 q4", s});
  }
  for (int32_t splits : {2, 3, 8}) {
    ProblemSpec s;
    s.num_heads = 20;
    s.mask = MaskKind::causal;
    s.page_size = 32;
    s.q_lens = {2, 3, 1, 0};
    s.kv_lens = {2100, 5000, 77, 300};
    s.num_splits = splits;
    s.seed = 10 + splits;
    cases.push_back({"fixed splits " + std::to_string(splits) + " (row chunks)", s});
  }
  {
    ProblemSpec s = gpu::long_request(64, 1, 9000, 6);
    s.batch_invariant = true;
    cases.push_back({"batch-invariant H64", s});
  }
  for (const auto& c : cases) {
    const HostProblem p = make_problem(c.second);
    const Reference ref = run_reference(p);
    for (int32_t parts : {0, 5}) {  // 5 parts: several splits of one request in one CTA
      mla::cuda::PlanOptions opt = with_max_q_len(p);
      opt.num_parts = parts;
      const std::string what = c.first + " parts=" + std::to_string(parts);
      gpu::check_against_reference(p, ref, kernel_vs_fused(p, opt, what), what);
    }
  }
}

TEST_CASE("cuda fused combine: random configurations, fused where the grid fits, never where it does not") {
  int fused_runs = 0;
  const std::vector<ProblemSpec> specs = config_matrix(0xF05ED, 40, 3000);
  for (size_t i = 0; i < specs.size(); ++i) {
    ProblemSpec s = specs[i];
    if (i % 3 == 0) s.num_splits = int32_t(2 + i % 5);
    const HostProblem p = make_problem(s);
    const Reference ref = run_reference(p);
    // With the plan's max_q_len (the grid usually fits) and without (q_len
    // bound 16: several M tile rows, usually too many CTAs).
    for (bool bound : {true, false}) {
      const mla::cuda::PlanOptions opt = bound ? with_max_q_len(p) : mla::cuda::PlanOptions();
      const std::string what = "spec " + std::to_string(i) + (bound ? " max_q_len" : " default plan");
      if (hopper() && expect_fused(p, opt)) ++fused_runs;
      gpu::check_against_reference(p, ref, kernel_vs_fused(p, opt, what), what);
    }
  }
  if (hopper()) CHECK_MESSAGE(fused_runs >= 10, "only " << fused_runs << " of the random problems took the fused path");
}

TEST_CASE("cuda fused combine: a flagged request's rows are written by the decode, split neighbours merged") {
  ProblemSpec s;
  s.num_heads = 16;
  s.mask = MaskKind::causal;
  s.page_size = 16;
  s.q_lens = {2, 1, 3, 1};
  s.kv_lens = {3000, 900, 2500, 40};
  s.num_splits = 4;
  s.seed = 77;
  HostProblem p = make_problem(s);
  p.page_table[size_t(p.desc.max_pages) * 1 + 3] = p.desc.num_pages + 9;  // request 1: a page id outside the pool
  const mla::cuda::PlanOptions opt = with_max_q_len(p);
  const gpu::Result r = kernel_vs_fused(p, opt, "bad page id in request 1");
  REQUIRE(r.request_status.size() == 4);
  CHECK(r.request_status[1] == uint32_t(MLA_STATUS_BAD_PAGE_ID));
  const int64_t H = p.desc.num_heads, row0 = int64_t(p.q_offsets[1]) * H;
  for (int64_t i = row0 * MLA_DIM_V; i < (row0 + H) * MLA_DIM_V; ++i) REQUIRE(r.out[size_t(i)] == 0);
  for (int64_t i = row0; i < row0 + H; ++i) REQUIRE(std::isnan(r.lse[size_t(i)]));
}

TEST_CASE("cuda fused combine: decode twice on one plan, and a graph replay with new lengths") {
  ProblemSpec s = gpu::long_request(16, 1, 1, 21);
  s.q_lens = {1, 1, 2};
  s.kv_lens = {9000, 9000, 6500};  // the pages of the longest lengths the replays use
  const HostProblem p = make_problem(s);
  const mla::cuda::PlanOptions opt = with_max_q_len(p);
  const gpu::Result direct = gpu::run(p, opt);

  // The counts must be back at zero after a decode: a second decode on the
  // same planner output must not merge before its partials are written.
  {
    gpu::DeviceProblem dp(p, opt);
    const mla::cuda::DecodePlan& plan = dp.plan();
    REQUIRE(mla::cuda::run_planner(plan, dp.data(), dp.workspace(), plan.workspace_bytes, dp.stream()).ok());
    for (int k = 0; k < 3; ++k) {
      dp.poison_outputs();
      REQUIRE(mla::cuda::decode(plan, dp.data(), dp.workspace(), plan.workspace_bytes, dp.out(), dp.lse(), dp.stream())
                  .ok());
      const gpu::Result again = dp.download();
      CHECK_MESSAGE(gpu::bitwise_equal(again.out, again.lse, direct.out, direct.lse), "decode " << k << " on one plan");
    }
  }

  const std::vector<std::vector<int32_t>> lengths = {{9000, 4000, 6500}, {17, 8999, 64}, {5000, 1, 6500}};
  gpu::DeviceProblem dp(p, opt);
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  const int64_t n0 = cuda_impl::fused_combine_decodes();
  CUDA_CHECK_OK(cudaStreamBeginCapture(dp.stream(), cudaStreamCaptureModeThreadLocal));
  dp.enqueue();
  CUDA_CHECK_OK(cudaStreamEndCapture(dp.stream(), &graph));
  CHECK(cuda_impl::fused_combine_decodes() - n0 == (hopper() && expect_fused(p, opt) ? 1 : 0));
  CUDA_CHECK_OK(cudaGraphInstantiate(&exec, graph, 0));
  for (size_t v = 0; v < lengths.size(); ++v) {
    HostProblem q = p;
    q.kv_lens = lengths[v];
    dp.set_kv_lens(q.kv_lens);
    dp.poison_outputs();
    CUDA_CHECK_OK(cudaGraphLaunch(exec, dp.stream()));
    const gpu::Result replay = dp.download();
    const gpu::Result ref_run = gpu::run(q, opt);
    CHECK_MESSAGE(gpu::bitwise_equal(replay.out, replay.lse, ref_run.out, ref_run.lse), "graph replay " << v);
    gpu::check_against_reference(q, run_reference(q), replay, "fused graph replay " + std::to_string(v));
  }
  CUDA_CHECK_OK(cudaGraphExecDestroy(exec));
  CUDA_CHECK_OK(cudaGraphDestroy(graph));
}
