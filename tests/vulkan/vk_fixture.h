// vk_fixture.h - what the Vulkan test files share: one context for the whole
// run (validation layer on unless MLA_VULKAN_VALIDATION=0), a decode through
// the host-memory API with poisoned outputs, and environment knobs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mla/vulkan.h"
#include "mla_test.h"

namespace vk_test {

// The shared context; created on first use (REQUIREs success).
mla::vulkan::Context& context();
// Destroys it (and the coopmat contexts below). main() calls this before
// returning: a Vulkan device destroyed by a static destructor may outlive the
// driver's own teardown (it crashed the NVIDIA driver at exit).
void release_context();

// Contexts with the cooperative-matrix decode, created on first use and
// shared by the test cases: native (required; null where the device cannot
// run it, *why then says why) or emulated (REQUIREd).
mla::vulkan::Context* coopmat_context(bool native, std::string* why);

// Integer from the environment, or `fallback`.
int env_int(const char* name, int fallback);

// A random seed for this run (MLA_TEST_SEED to repeat one), printed once.
uint64_t run_seed();

struct Result {
  std::vector<uint16_t> out;  // BF16 bits
  std::vector<float> lse;
  uint32_t status = 0;
  double kernel_ms = 0;
};

// decode_host with poisoned outputs; REQUIREs success and no new validation message.
Result run(const mla::test::HostProblem& p);
// The same on another context (its validation messages: REQUIREd to stay 0).
Result run_on(mla::vulkan::Context& ctx, const mla::test::HostProblem& p);

// Validation for the contexts the tests create: on unless MLA_VULKAN_VALIDATION=0.
bool validation_wanted();

// Whether MLA_VULKAN_FETCH, MLA_VULKAN_CM_SCAN and MLA_VULKAN_CM_PROFILE
// leave the coopmat decode on its default build (run fetch, fast scan, no
// profile); else a MESSAGE that `what` is built with that only, and false.
bool default_cm_build(const char* what);

// run() against the float64 reference with the default (BF16) tolerance.
void check_against_reference(const mla::test::HostProblem& p, const Result& r,
                             const mla::test::Tolerance& tol = mla::test::Tolerance());

// The problem of requests `which` of p (in that order), on the same pool.
mla::test::HostProblem select_requests(const mla::test::HostProblem& p, const std::vector<int>& which);

// Rows [q_offsets[b] * H, q_offsets[b+1] * H) of request b: output values and LSE.
std::vector<uint16_t> request_out(const mla::test::HostProblem& p, const Result& r, int b);
std::vector<float> request_lse(const mla::test::HostProblem& p, const Result& r, int b);

// Fails the current test if the validation layer has spoken since the last call.
void check_validation_clean();

}  // namespace vk_test
