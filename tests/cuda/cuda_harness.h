// cuda_harness.h - running test problems through the CUDA backend's device
// API (upload, plan, decode into poisoned outputs, download), and the
// problem surgery the suites share.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mla/cuda.h"
#include "mla_test.h"

// REQUIREs that an mla::Status call succeeded, naming the call and the error.
#define STATUS_REQUIRE(call)                                     \
  do {                                                           \
    const ::mla::Status s_ = (call);                             \
    REQUIRE_MESSAGE(s_.ok(), #call << ": " << s_.to_string()); \
  } while (0)

namespace mla::test::gpu {

// The outputs of one call, downloaded.
struct Result {
  std::vector<uint16_t> out;
  std::vector<float> lse;
  uint32_t status = 0;                   // batch status word
  std::vector<uint32_t> request_status;  // [B]
};

// A problem on the device: inputs, poisoned outputs, a plan and its
// workspace (filled with garbage: the planner must rewrite what decode reads),
// and a private stream. Every step REQUIREs success.
class DeviceProblem {
 public:
  DeviceProblem(const HostProblem& p, const mla::cuda::PlanOptions& opt = mla::cuda::PlanOptions());
  ~DeviceProblem();
  DeviceProblem(const DeviceProblem&) = delete;
  DeviceProblem& operator=(const DeviceProblem&) = delete;

  // run_planner + decode on stream() (asynchronous).
  void enqueue();
  // Waits for the stream and downloads out, lse and the status words.
  Result download();
  // Replaces the device copy of kv_lens / q_offsets / page_table (synchronously).
  void set_kv_lens(const std::vector<int32_t>& v);
  void set_q_offsets(const std::vector<int32_t>& v);
  void set_page_table(const std::vector<int32_t>& v);
  // Refills out / lse with poison.
  void poison_outputs();

  const mla::cuda::DecodePlan& plan() const { return plan_; }
  const ProblemData& data() const { return data_; }
  void* workspace() const;
  uint16_t* out() const;
  float* lse() const;
  CUstream_st* stream() const { return stream_; }

 private:
  struct Buffers;
  const HostProblem& p_;
  mla::cuda::DecodePlan plan_;
  ProblemData data_;
  Buffers* b_;
  CUstream_st* stream_ = nullptr;
};

// DeviceProblem(p, opt).enqueue() then download().
Result run(const HostProblem& p, const mla::cuda::PlanOptions& opt = mla::cuda::PlanOptions());

// The kernels the suites exercise on the current device: automatic (what
// users get: the Hopper kernel where it applies), and each portable
// configuration the device can run; MLA_TEST_KERNELS (a comma-separated list
// of mla::cuda::to_string names) overrides the list.
std::vector<mla::cuda::Kernel> kernels_under_test();
std::string kernel_label(mla::cuda::Kernel k);
// Calls f(options) once per kernel under test (options = base with that
// kernel), the kernel's name in the test's context for any failure.
void for_each_kernel(const std::function<void(const mla::cuda::PlanOptions&)>& f,
                     mla::cuda::PlanOptions base = mla::cuda::PlanOptions());

// Request b of `p` as a batch of its own (same pool and pages, its Q rows).
HostProblem extract_request(const HostProblem& p, int32_t b);

// The rows of request b of a result over `p` (token range q_offsets[b] .. q_offsets[b+1]).
void slice_request(const HostProblem& p, int32_t b, const Result& r, std::vector<uint16_t>* out, std::vector<float>* lse);

// Whether two results are bitwise identical (out and LSE bits).
bool bitwise_equal(const std::vector<uint16_t>& a_out, const std::vector<float>& a_lse,
                   const std::vector<uint16_t>& b_out, const std::vector<float>& b_lse);

// CHECKs `got` against the reference of `p` with the default tolerance (and
// a clean status word); returns the comparison (max_err_over_tol: the margin).
CompareResult check_against_reference(const HostProblem& p, const Reference& ref, const Result& got,
                                      const std::string& what);

}  // namespace mla::test::gpu
