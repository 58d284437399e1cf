// The C API (mla/mla_c.h): the same results as the C++ API, status codes and
// last-error messages instead of exceptions.
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "cuda_harness.h"
#include "mla/mla_c.h"

namespace {

using namespace mla;
using namespace mla::test;

mla_problem to_c(const ProblemDesc& d) {
  mla_problem c;
  std::memset(&c, 0, sizeof(c));
  c.batch = d.batch;
  c.num_heads = d.num_heads;
  c.total_q = d.total_q;
  c.q_format = int32_t(d.q_format);
  c.kv_format = int32_t(d.kv_format);
  c.mask = int32_t(d.mask);
  c.window = d.window;
  c.chunk = d.chunk;
  c.softmax_scale = d.softmax_scale;
  c.page_size = d.page_size;
  c.num_pages = d.num_pages;
  c.max_pages = d.max_pages;
  c.num_splits = d.num_splits;
  c.batch_invariant = d.batch_invariant;
  return c;
}

mla_inputs to_c(const ProblemData& d) {
  mla_inputs c;
  c.q = d.q;
  c.q_scales = d.q_scales;
  c.kv_pool = d.kv_pool;
  c.kv_scales = d.kv_scales;
  c.page_table = d.page_table;
  c.q_offsets = d.q_offsets;
  c.kv_lens = d.kv_lens;
  return c;
}

HostProblem small_problem() {
  ProblemSpec s;
  s.num_heads = 24;
  s.q_format = RowFormat::fp8_rope640;
  s.kv_format = RowFormat::fp8_rope640;
  s.mask = MaskKind::sliding_window;
  s.window = 100;
  s.page_size = 8;
  s.q_lens = {1, 5};
  s.kv_lens = {333, 900};
  s.seed = 8;
  return make_problem(s);
}

}  // namespace

TEST_CASE("C API: availability, errors and last-error messages") {
  CHECK(mla_cuda_available() == MLA_OK);
  CHECK(std::string(mla_last_error()).empty());
  CHECK(std::string(mla_status_name(MLA_ERROR_INVALID_ARGUMENT)) == "invalid_argument");

  HostProblem p = small_problem();
  mla_problem bad = to_c(p.desc);
  bad.page_size = 48;
  mla_cuda_plan* plan = reinterpret_cast<mla_cuda_plan*>(0x1);
  CHECK(mla_cuda_plan_create(&bad, -1, 0, &plan) == MLA_ERROR_INVALID_ARGUMENT);
  CHECK(plan == nullptr);
  CHECK(std::string(mla_last_error()).find("page_size = 48") != std::string::npos);
  CHECK(mla_cuda_plan_create(nullptr, -1, 0, &plan) == MLA_ERROR_INVALID_ARGUMENT);
  CHECK(mla_cuda_plan_workspace_size(nullptr) == 0);
  CHECK(mla_cuda_decode(nullptr, nullptr, nullptr, 0, nullptr, nullptr, nullptr) == MLA_ERROR_INVALID_ARGUMENT);

  mla_problem good = to_c(p.desc);
  REQUIRE(mla_cuda_plan_create(&good, -1, 0, &plan) == MLA_OK);
  mla_inputs in = to_c(p.data());
  // Host pointers handed to the device path: a null workspace is refused before any launch.
  CHECK(mla_cuda_run_planner(plan, &in, nullptr, 0, nullptr) == MLA_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(mla_last_error()).find("workspace") != std::string::npos);
  mla_cuda_plan_destroy(plan);
}

TEST_CASE("C API: host and device paths match the reference and the C++ API bitwise") {
  const HostProblem p = small_problem();
  const Reference ref = run_reference(p);
  const mla_problem cp = to_c(p.desc);

  // Host path.
  std::vector<uint16_t> out(out_count(p.desc));
  std::vector<float> lse(lse_count(p.desc));
  poison(out, lse);
  const mla_inputs host = to_c(p.data());
  uint32_t word = 123;
  double ms = -1;
  REQUIRE_MESSAGE(mla_cuda_decode_host(&cp, &host, out.data(), lse.data(), &word, &ms) == MLA_OK, mla_last_error());
  CHECK(word == 0u);
  CHECK(ms >= 0);
  const CompareResult c = compare(p, out.data(), lse.data(), ref);
  CHECK_MESSAGE(c.ok, c.first_failure);

  // Device path on the harness's buffers.
  gpu::DeviceProblem dp(p);
  mla_cuda_plan* plan = nullptr;
  REQUIRE(mla_cuda_plan_create(&cp, -1, 0, &plan) == MLA_OK);
  const size_t ws = mla_cuda_plan_workspace_size(plan);
  CHECK(int64_t(ws) == dp.plan().workspace_bytes);
  const mla_inputs dev = to_c(dp.data());
  REQUIRE_MESSAGE(mla_cuda_run_planner(plan, &dev, dp.workspace(), ws, dp.stream()) == MLA_OK, mla_last_error());
  REQUIRE_MESSAGE(mla_cuda_decode(plan, &dev, dp.workspace(), ws, dp.out(), dp.lse(), dp.stream()) == MLA_OK,
                  mla_last_error());
  uint32_t request_status[2] = {9, 9};
  REQUIRE(mla_cuda_read_status(plan, dp.workspace(), &word, request_status, dp.stream()) == MLA_OK);
  CHECK(word == 0u);
  CHECK(request_status[0] == 0u);
  CHECK(request_status[1] == 0u);
  CHECK(mla_cuda_status_word(plan, dp.workspace()) == mla::cuda::device_status_word(dp.plan(), dp.workspace()));
  const gpu::Result via_c = dp.download();
  CHECK(gpu::bitwise_equal(via_c.out, via_c.lse, out, lse));
  mla_cuda_plan_destroy(plan);
}
