// Device-side faults: bad page ids, kv_len beyond the request's pages, bad
// q_offsets, q_len > kv_len under a causal mask. The planner flags the
// request (its status bits and the batch word), its rows become 0 with LSE
// NaN, nothing out of bounds is read (compute-sanitizer memcheck runs this
// suite in tools/gpu-check), and the other requests are still correct.
#include <doctest/doctest.h>

#include <cuda_runtime.h>

#include <cmath>

#include "cuda_harness.h"

namespace {

using namespace mla;
using namespace mla::test;

// Four requests; the tests break request 1's metadata.
HostProblem four_requests(MaskKind mask, std::vector<int32_t> q_lens = {2, 3, 1, 2}) {
  ProblemSpec s;
  s.num_heads = 16;
  s.q_format = RowFormat::bf16;
  s.kv_format = RowFormat::fp8_rope640;
  s.mask = mask;
  s.page_size = 16;
  s.q_lens = std::move(q_lens);
  s.kv_lens = std::vector<int32_t>{300, 200, 129, 77, 55}; 
  s.kv_lens.resize(s.q_lens.size());
  s.num_splits = 2;  // flagged requests must also stay out of the split-K path
  s.seed = 4242;
  return make_problem(s);
}

// Request b of `run_on`'s result equals the reference of request b of `intact`.
void expect_request_correct(const HostProblem& intact, const HostProblem& run_on, int32_t b, const gpu::Result& r) {
  const HostProblem one = gpu::extract_request(intact, b);
  const Reference ref = run_reference(one);
  std::vector<uint16_t> out;
  std::vector<float> lse;
  gpu::slice_request(run_on, b, r, &out, &lse);
  const CompareResult c = compare(one, out.data(), lse.data(), ref);
  CHECK_MESSAGE(c.ok, "request " << b << ": " << c.first_failure);
  CHECK_MESSAGE(r.request_status[b] == 0u, "request " << b);
}

// Tokens [t0, t1) are the rows of a flagged request: output 0, LSE NaN.
void expect_rows_faulted(const HostProblem& p, int32_t t0, int32_t t1, const gpu::Result& r) {
  const int64_t H = p.desc.num_heads;
  int64_t bad = 0;
  for (int64_t row = t0 * H; row < t1 * H; ++row) {
    for (int c = 0; c < MLA_DIM_V; ++c) bad += r.out[row * MLA_DIM_V + c] != 0;
    bad += !std::isnan(r.lse[row]) || is_poison(r.lse[row]);
  }
  CHECK_MESSAGE(bad == 0, bad << " values of tokens [" << t0 << ", " << t1 << ") are not 0 / NaN");
}

// Tokens [t0, t1) were left as they were (poison).
void expect_rows_untouched(const HostProblem& p, int32_t t0, int32_t t1, const gpu::Result& r) {
  const int64_t H = p.desc.num_heads;
  int64_t touched = 0;
  for (int64_t row = t0 * H; row < t1 * H; ++row) {
    for (int c = 0; c < MLA_DIM_V; ++c) touched += r.out[row * MLA_DIM_V + c] != kPoisonBf16;
    touched += !is_poison(r.lse[row]);
  }
  CHECK_MESSAGE(touched == 0, touched << " values of unowned tokens [" << t0 << ", " << t1 << ") were written");
}

// Runs `broken` on every kernel and checks: batch word == bits, request 1
// flagged with `bits`, its tokens faulted, the other requests correct.
void check_single_fault(const HostProblem& intact, const HostProblem& broken, uint32_t bits) {
  gpu::for_each_kernel([&](const mla::cuda::PlanOptions& opt) {
    const gpu::Result r = gpu::run(broken, opt);
    CHECK(r.status == bits);
    CHECK(r.request_status[1] == bits);
    expect_rows_faulted(broken, broken.q_offsets[1], broken.q_offsets[2], r);
    for (int32_t b : {0, 2, 3}) expect_request_correct(intact, broken, b, r);
  });
}

}  // namespace

TEST_CASE("cuda faults: a page id outside the pool") {
  const HostProblem intact = four_requests(MaskKind::none);
  for (int32_t id : {intact.desc.num_pages, -1, 0x7fffffff}) {
    HostProblem broken = intact;
    broken.page_table[int64_t(1) * broken.desc.max_pages + 5] = id;  // page 5 of 13 (kv_len 200, page 16)
    INFO("page id " << id);
    check_single_fault(intact, broken, MLA_STATUS_BAD_PAGE_ID);
  }
}

TEST_CASE("cuda faults: kv_len outside [0, max_pages * page_size]") {
  const HostProblem intact = four_requests(MaskKind::none);
  for (int32_t kv : {intact.desc.max_pages * intact.desc.page_size + 1, -5, 0x7fffffff}) {
    HostProblem broken = intact;
    broken.kv_lens[1] = kv;
    INFO("kv_len " << kv);
    check_single_fault(intact, broken, MLA_STATUS_BAD_KV_LEN);
  }
}

TEST_CASE("cuda faults: q_len > kv_len under a causal mask") {
  const HostProblem intact = four_requests(MaskKind::causal);
  HostProblem broken = intact;
  broken.kv_lens[1] = 2;  // q_len 3
  check_single_fault(intact, broken, MLA_STATUS_BAD_Q_LEN_CAUSAL);
}

TEST_CASE("cuda faults: decreasing q_offsets flag both requests and leave unowned rows alone") {
  const HostProblem intact = four_requests(MaskKind::none);  // q_offsets 0 2 5 6 8
  HostProblem broken = intact;
  broken.q_offsets[2] = 1;  // request 1 = [2, 1), request 2 = [1, 6) starts inside request 0
  gpu::for_each_kernel([&](const mla::cuda::PlanOptions& opt) {
    const gpu::Result r = gpu::run(broken, opt);
    CHECK(r.status == MLA_STATUS_BAD_Q_OFFSETS);
    CHECK(r.request_status[1] == MLA_STATUS_BAD_Q_OFFSETS);
    CHECK(r.request_status[2] == MLA_STATUS_BAD_Q_OFFSETS);
    expect_request_correct(intact, broken, 0, r);
    expect_request_correct(intact, broken, 3, r);
    expect_rows_untouched(broken, 2, 6, r);
  });
}

TEST_CASE("cuda faults: q_len 17 is flagged and all 17 tokens' rows are written as 0 / NaN") {
  const HostProblem intact = four_requests(MaskKind::none, {2, 16, 1});  // q_offsets 0 2 18 19
  HostProblem broken = intact;
  broken.q_offsets[2] = 19;  // request 1: 17 tokens; request 2: none
  gpu::for_each_kernel([&](const mla::cuda::PlanOptions& opt) {
    const gpu::Result r = gpu::run(broken, opt);
    CHECK(r.status == MLA_STATUS_BAD_Q_OFFSETS);
    CHECK(r.request_status[1] == MLA_STATUS_BAD_Q_OFFSETS);
    CHECK(r.request_status[2] == 0u);
    expect_request_correct(intact, broken, 0, r);
    expect_rows_faulted(broken, 2, 19, r);
  });
}

TEST_CASE("cuda faults: a page table corrupted between planning and decoding is never dereferenced") {
  const HostProblem intact = four_requests(MaskKind::none);
  gpu::for_each_kernel([&](const mla::cuda::PlanOptions& opt) {
    gpu::DeviceProblem dp(intact, opt);
    std::vector<int32_t> table = intact.page_table;
    table[int64_t(1) * intact.desc.max_pages + 2] = -7;
    table[int64_t(1) * intact.desc.max_pages + 3] = intact.desc.num_pages + 100000;
    REQUIRE(mla::cuda::run_planner(dp.plan(), dp.data(), dp.workspace(), dp.plan().workspace_bytes, dp.stream()).ok());
    REQUIRE(cudaStreamSynchronize(dp.stream()) == cudaSuccess);
    dp.set_page_table(table);  // after the planner's check
    REQUIRE(mla::cuda::decode(dp.plan(), dp.data(), dp.workspace(), dp.plan().workspace_bytes, dp.out(), dp.lse(),
                              dp.stream())
                .ok());
    const gpu::Result r = dp.download();
    // The Hopper kernel zero-fills bad pages without flagging; the portable one flags the word.
    if (opt.kernel != mla::cuda::Kernel::automatic) CHECK(r.status == MLA_STATUS_BAD_PAGE_ID);
    for (int32_t b : {0, 2, 3}) {
      std::vector<uint16_t> out;
      std::vector<float> lse;
      gpu::slice_request(intact, b, r, &out, &lse);
      const HostProblem one = gpu::extract_request(intact, b);
      const CompareResult c = compare(one, out.data(), lse.data(), run_reference(one));
      CHECK_MESSAGE(c.ok, "request " << b << ": " << c.first_failure);
    }
  });
}

TEST_CASE("cuda faults: a q_len above the plan's max_q_len is flagged; within it the grid shrinks, results do not") {
  const HostProblem p = four_requests(MaskKind::none);  // q_lens 2 3 1 2
  gpu::for_each_kernel([&](mla::cuda::PlanOptions opt) {
    const gpu::Result full = gpu::run(p, opt);  // max_q_len 0: the contract's 16
    opt.max_q_len = 3;
    {
      gpu::DeviceProblem dp(p, opt);
      CHECK(dp.plan().max_m_tiles == 1);  // 3 tokens x 16 heads = 48 rows: one M tile, not 4
    }
    const gpu::Result tight = gpu::run(p, opt);
    CHECK(tight.status == 0u);
    CHECK_MESSAGE(gpu::bitwise_equal(full.out, full.lse, tight.out, tight.lse),
                  "max_q_len 3 changed the results of a batch whose longest request has 3 tokens");
    opt.max_q_len = 2;
    const gpu::Result r = gpu::run(p, opt);
    CHECK(r.status == MLA_STATUS_BAD_Q_OFFSETS);
    CHECK(r.request_status[1] == MLA_STATUS_BAD_Q_OFFSETS);
    expect_rows_faulted(p, p.q_offsets[1], p.q_offsets[2], r);
    for (int32_t b : {0, 2, 3}) expect_request_correct(p, p, b, r);
  });
  for (int32_t bad : {-1, MLA_MAX_Q_LEN + 1}) {
    mla::cuda::PlanOptions opt;
    opt.max_q_len = bad;
    mla::cuda::DecodePlan plan;
    const Status st = mla::cuda::make_plan(p.desc, &plan, opt);
    CHECK(st.code() == StatusCode::invalid_argument);
    CHECK_MESSAGE(st.to_string().find("max_q_len = " + std::to_string(bad)) != std::string::npos, st.to_string());
  }
}
