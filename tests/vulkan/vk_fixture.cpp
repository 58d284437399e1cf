// The shared context, the poisoned decode and request extraction.
#include "vk_fixture.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>

namespace vk_test {

using mla::test::HostProblem;

namespace {
uint64_t g_seen_messages = 0;
std::unique_ptr<mla::vulkan::Context> g_context;
std::unique_ptr<mla::vulkan::Context> g_coopmat[2];  // emulated, native
bool g_coopmat_tried[2] = {false, false};
std::string g_coopmat_why;
}  // namespace

void release_context() {
  g_context.reset();
  g_coopmat[0].reset();
  g_coopmat[1].reset();
}

mla::vulkan::Context* coopmat_context(bool native, std::string* why) {
  const int i = native ? 1 : 0;
  if (!g_coopmat_tried[i]) {
    g_coopmat_tried[i] = true;
    mla::vulkan::Options o;
    o.validation = validation_wanted();
    o.coopmat = native ? mla::vulkan::Options::CoopMat::required : mla::vulkan::Options::CoopMat::emulate;
    const mla::Status st = mla::vulkan::Context::create(o, &g_coopmat[i]);
    if (!st.ok()) {
      g_coopmat[i].reset();
      if (native) g_coopmat_why = st.to_string();
      REQUIRE_MESSAGE((native || st.ok()), st.to_string());
    } else {
      const auto info = g_coopmat[i]->device_info();
      std::printf("coopmat context: decode %s, tiles %s\n", info.decode.c_str(), info.tiles.c_str());
    }
  }
  if (why) *why = g_coopmat_why;
  return g_coopmat[i].get();
}

mla::vulkan::Context& context() {
  std::unique_ptr<mla::vulkan::Context>& ctx = g_context;
  if (!ctx) {
    mla::vulkan::Options o;
    o.validation = validation_wanted();
    const mla::Status st = mla::vulkan::Context::create(o, &ctx);
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    const auto i = ctx->device_info();
    std::printf("vulkan device: %s (%s, driver %s), %u compute units, %u B shared memory, subgroup %u, decode %s, "
                "tiles %s%s%s%s\n",
                i.name.c_str(), i.type.c_str(), i.driver.c_str(), i.compute_units, i.shared_memory_bytes,
                i.subgroup_size, i.decode.c_str(), i.tiles.c_str(), o.validation ? ", validation on" : ", validation OFF",
                i.robust_buffer_access ? ", robust buffer access" : "",
                i.driver_buffer_checks ? "" : ", no driver buffer checks");
    if (!i.coopmat_missing.empty()) std::printf("cooperative-matrix decode unavailable: %s\n", i.coopmat_missing.c_str());
  }
  return *ctx;
}

bool validation_wanted() {
  const char* v = std::getenv("MLA_VULKAN_VALIDATION");
  return !(v && std::strcmp(v, "0") == 0);  // on unless explicitly switched off
}

bool default_cm_build(const char* what) {
  for (const char* var : {"MLA_VULKAN_FETCH", "MLA_VULKAN_CM_SCAN", "MLA_VULKAN_CM_PROFILE"})
    if (const char* f = std::getenv(var); f && *f && std::strcmp(f, "run") != 0 && std::strcmp(f, "fast") != 0 &&
                                           std::strcmp(f, "0") != 0) {
      MESSAGE("not run: " << std::string(what) << " is built with the default fetch and scan only ("
                          << std::string(var) << "=" << std::string(f) << ")");
      return false;
    }
  return true;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

uint64_t run_seed() {
  static uint64_t seed = [] {
    const char* v = std::getenv("MLA_TEST_SEED");
    const uint64_t s = v && *v ? std::strtoull(v, nullptr, 10) : (uint64_t(std::random_device{}()) << 20) ^ std::random_device{}();
    std::printf("test seed %llu (MLA_TEST_SEED=%llu repeats this run)\n", (unsigned long long)s, (unsigned long long)s);
    return s;
  }();
  return seed;
}

void check_validation_clean() {
  const uint64_t now = context().validation_messages();
  CHECK_MESSAGE(now == g_seen_messages, "the validation layer reported " << now - g_seen_messages
                                                                         << " warning(s) or error(s) (printed above)");
  g_seen_messages = now;
}

Result run(const HostProblem& p) {
  Result r;
  r.out.resize(mla::out_count(p.desc));
  r.lse.resize(mla::lse_count(p.desc));
  mla::test::poison(r.out, r.lse);
  r.status = 0xDEADBEEFu;
  const mla::Status st = context().decode_host(p.desc, p.data(), r.out.data(), r.lse.data(), &r.status, &r.kernel_ms);
  INFO(p.describe());
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  CHECK(r.status == 0u);  // host validation passed, so the device finds nothing wrong
  check_validation_clean();
  return r;
}

Result run_on(mla::vulkan::Context& ctx, const HostProblem& p) {
  Result r;
  r.out.resize(mla::out_count(p.desc));
  r.lse.resize(mla::lse_count(p.desc));
  mla::test::poison(r.out, r.lse);
  r.status = 0xDEADBEEFu;
  const mla::Status st = ctx.decode_host(p.desc, p.data(), r.out.data(), r.lse.data(), &r.status, &r.kernel_ms);
  INFO(p.describe());
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  CHECK(r.status == 0u);
  REQUIRE_MESSAGE(ctx.validation_messages() == 0, "the validation layer reported (printed above)");
  return r;
}

void check_against_reference(const HostProblem& p, const Result& r, const mla::test::Tolerance& tol) {
  const mla::test::Reference ref = mla::test::run_reference(p);
  const mla::test::CompareResult c = mla::test::compare(p, r.out.data(), r.lse.data(), ref, tol);
  INFO(p.describe());
  INFO("max error / tolerance " << c.max_err_over_tol << ", max relative L2 " << c.max_rel_l2 << ", max LSE error "
                                << c.max_lse_err << ", unwritten " << c.unwritten << ", bad " << c.bad);
  CHECK_MESSAGE(c.ok, c.first_failure);
}

HostProblem select_requests(const HostProblem& p, const std::vector<int>& which) {
  HostProblem s = p;
  const int H = p.desc.num_heads;
  const int64_t qrb = mla::row_bytes(p.desc.q_format) * H;
  s.desc.batch = int32_t(which.size());
  s.page_table.clear();
  s.q.clear();
  s.q_scales.clear();
  s.kv_lens.clear();
  s.q_offsets.assign(1, 0);
  for (int b : which) {
    const int32_t q0 = p.q_offsets[b], q1 = p.q_offsets[b + 1];
    s.q_offsets.push_back(s.q_offsets.back() + (q1 - q0));
    s.kv_lens.push_back(p.kv_lens[b]);
    s.page_table.insert(s.page_table.end(), p.page_table.begin() + int64_t(b) * p.desc.max_pages,
                        p.page_table.begin() + int64_t(b + 1) * p.desc.max_pages);
    s.q.insert(s.q.end(), p.q.begin() + q0 * qrb, p.q.begin() + q1 * qrb);
    if (!p.q_scales.empty()) s.q_scales.insert(s.q_scales.end(), p.q_scales.begin() + q0, p.q_scales.begin() + q1);
  }
  s.desc.total_q = s.q_offsets.back();
  return s;
}

std::vector<uint16_t> request_out(const HostProblem& p, const Result& r, int b) {
  const int64_t H = p.desc.num_heads;
  return std::vector<uint16_t>(r.out.begin() + p.q_offsets[b] * H * MLA_DIM_V,
                               r.out.begin() + p.q_offsets[b + 1] * H * MLA_DIM_V);
}

std::vector<float> request_lse(const HostProblem& p, const Result& r, int b) {
  const int64_t H = p.desc.num_heads;
  return std::vector<float>(r.lse.begin() + p.q_offsets[b] * H, r.lse.begin() + p.q_offsets[b + 1] * H);
}

}  // namespace vk_test
