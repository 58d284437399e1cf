// Device-side checks of the VkBuffer API: metadata corrupted after upload
// (the host never sees it) must not be read out of bounds; the request gets
// its status bits, output 0 and LSE NaN, and the other requests are intact.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "device_problem.h"
#include "mla/numeric.h"
#include "vk_fixture.h"

using mla::test::HostProblem;
using mla::test::ProblemSpec;

namespace {

HostProblem three_requests(mla::MaskKind mask) {
  ProblemSpec s;
  s.seed = vk_test::run_seed() + 50;
  s.num_heads = 8;
  s.mask = mask;
  if (mask == mla::MaskKind::chunked) s.chunk = 32;
  s.page_size = 16;
  s.q_lens = {2, 3, 1};
  s.kv_lens = {100, 70, 40};
  s.num_splits = 2;  // the faulty request must not reach the combine either
  return mla::test::make_problem(s);
}

// Runs p with `corrupt` applied to the device metadata; checks the status
// words, that the rows of `bad` (when it owns them) are 0 / NaN, and that the
// requests in `good` match the reference of the uncorrupted problem.
void expect_fault(const HostProblem& p, const std::function<void(vk_test::DeviceProblem&)>& corrupt,
                  const std::vector<uint32_t>& want_status, int bad, bool bad_rows_written,
                  const std::vector<int>& good) {
  vk_test::DeviceProblem dp(vk_test::context(), p);
  corrupt(dp);
  const mla::Status st = dp.run();
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  vk_test::check_validation_clean();
  const auto status = dp.status();
  CHECK(status == want_status);
  const auto out = dp.out();
  const auto lse = dp.lse();
  const int64_t H = p.desc.num_heads;
  if (bad_rows_written) {
    for (int64_t r = p.q_offsets[bad] * H; r < p.q_offsets[bad + 1] * H; ++r) {
      CHECK(std::isnan(lse[r]));
      bool zero = true;
      for (int c = 0; c < MLA_DIM_V; ++c) zero &= out[r * MLA_DIM_V + c] == 0;
      CHECK_MESSAGE(zero, "row " << r << " of the faulty request is not 0");
    }
  }
  const mla::test::Reference ref = mla::test::run_reference(p);
  for (int b : good) {
    const HostProblem one = vk_test::select_requests(p, {b});
    mla::test::Reference ref_one;
    ref_one.out.assign(ref.out.begin() + p.q_offsets[b] * H * MLA_DIM_V, ref.out.begin() + p.q_offsets[b + 1] * H * MLA_DIM_V);
    ref_one.lse.assign(ref.lse.begin() + p.q_offsets[b] * H, ref.lse.begin() + p.q_offsets[b + 1] * H);
    const auto c = mla::test::compare(one, out.data() + p.q_offsets[b] * H * MLA_DIM_V, lse.data() + p.q_offsets[b] * H,
                                      ref_one);
    CHECK_MESSAGE(c.ok, "request " << b << ": " << c.first_failure);
  }
}

}  // namespace

TEST_CASE("device status: a page id outside the pool") {
  const HostProblem p = three_requests(mla::MaskKind::causal);
  const int M = p.desc.max_pages, P = p.desc.num_pages;
  for (int32_t bad_id : {P, -1, 0x7FFFFFFF, int32_t(0x80000000)}) {
    expect_fault(p, [&](vk_test::DeviceProblem& d) { d.page_table()[1 * M + 2] = bad_id; },
                 {MLA_STATUS_BAD_PAGE_ID, 0, MLA_STATUS_BAD_PAGE_ID, 0}, 1, true, {0, 2});
  }
  // A bad id in a column past the request's pages is never used: no fault.
  expect_fault(p, [&](vk_test::DeviceProblem& d) { d.page_table()[2 * M + M - 1] = -7; }, {0, 0, 0, 0}, 0, false,
               {0, 1, 2});
}

TEST_CASE("device status: kv_len out of range") {
  const HostProblem p = three_requests(mla::MaskKind::none);
  const int cap = p.desc.max_pages * p.desc.page_size;
  for (int32_t kv : {cap + 1, -1, 0x7FFFFFFF}) {
    expect_fault(p, [&](vk_test::DeviceProblem& d) { d.kv_lens()[0] = kv; },
                 {MLA_STATUS_BAD_KV_LEN, MLA_STATUS_BAD_KV_LEN, 0, 0}, 0, true, {1, 2});
  }
}

TEST_CASE("device status: q_len beyond kv_len under a causal mask") {
  const HostProblem p = three_requests(mla::MaskKind::chunked);
  expect_fault(p, [&](vk_test::DeviceProblem& d) { d.kv_lens()[1] = 2; },
               {MLA_STATUS_BAD_Q_LEN_CAUSAL, 0, MLA_STATUS_BAD_Q_LEN_CAUSAL, 0}, 1, true, {0, 2});
}

TEST_CASE("device status: bad q_offsets") {
  const HostProblem p = three_requests(mla::MaskKind::causal);
  // q_offsets = {0, 2, 5, 6}. Request 1 ending past total_q: it and request 2
  // (which would start after the end) own no rows; request 0 is intact.
  expect_fault(p, [&](vk_test::DeviceProblem& d) { d.q_offsets()[2] = 100; },
               {MLA_STATUS_BAD_Q_OFFSETS, 0, MLA_STATUS_BAD_Q_OFFSETS, MLA_STATUS_BAD_Q_OFFSETS}, 1, false, {0});
  // Decreasing: request 1 = [2, 1) and request 2 = [1, 6) would overlap request 0.
  expect_fault(p, [&](vk_test::DeviceProblem& d) { d.q_offsets()[2] = 1; },
               {MLA_STATUS_BAD_Q_OFFSETS, 0, MLA_STATUS_BAD_Q_OFFSETS, MLA_STATUS_BAD_Q_OFFSETS}, 1, false, {0});
  // q_offsets[0] != 0.
  expect_fault(p, [&](vk_test::DeviceProblem& d) { d.q_offsets()[0] = 1; },
               {MLA_STATUS_BAD_Q_OFFSETS, MLA_STATUS_BAD_Q_OFFSETS, 0, 0}, 0, false, {1, 2});
  // The last request ending before total_q: it is flagged, its rows 0 / NaN.
  expect_fault(p, [&](vk_test::DeviceProblem& d) { d.q_offsets()[3] = 5; },
               {MLA_STATUS_BAD_Q_OFFSETS, 0, 0, MLA_STATUS_BAD_Q_OFFSETS}, 2, false, {0, 1});
}
