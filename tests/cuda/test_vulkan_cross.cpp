// CUDA versus Vulkan on the same device and the same inputs (built only when
// both backends are: MLA_HAVE_VULKAN). The two backends round at different
// places (BF16 P for the tensor cores here, their own accumulation order
// there), so they are compared in BF16 ULPs and the distribution is printed.
//
// Bound: at most kMaxUlp = 8 ULPs for every value, and at least 99% of the
// values within 2 ULPs, where values below rms(row) / 16 are measured in ULPs
// of rms / 16 (the floor; mla::test::ulp_diff). Why 8: each backend is within
// about 2^-9 |x| (output rounding) plus 2^-9 of the row RMS (P rounding when a
// few keys dominate) of the exact value; at the floor an ULP is 2^-11 of the
// RMS, so two such errors of opposite sign are up to 2 * (2^-9 / 2^-11) = 8
// ULPs there, and 2-4 ULPs for values of the row's own magnitude.
#include <doctest/doctest.h>

#ifdef MLA_HAVE_VULKAN

#include <algorithm>
#include <map>
#include <sstream>
#include <cmath>
#include <cstdlib>
#include <memory>

#include "cuda_harness.h"
#include "mla/vulkan.h"

namespace {

using namespace mla;
using namespace mla::test;

constexpr int64_t kMaxUlp = 8;
constexpr double kFloorFrac = 1.0 / 16;

}  // namespace

TEST_CASE("cuda vs vulkan: the same inputs agree within 8 BF16 ULPs (floor rms/16)") {
  const std::string why = mla::vulkan::unavailable_reason();
  if (!why.empty()) {
    // tools/gpu-check sets MLA_REQUIRE_VULKAN: there the cross-check must run.
    const char* required = std::getenv("MLA_REQUIRE_VULKAN");
    CHECK_MESSAGE(!(required && *required == '1'), "Vulkan unavailable: " << why);
    MESSAGE("Vulkan unavailable, cross-check not run: " << why);
    return;
  }
  std::unique_ptr<mla::vulkan::Context> vk;
  const Status created = mla::vulkan::Context::create(&vk);
  REQUIRE_MESSAGE(created.ok(), created.to_string());
  MESSAGE("Vulkan device: " << vk->device_name());

  std::vector<ProblemSpec> specs = config_matrix(0xC705, 48);
  const std::vector<ProblemSpec> long_specs = config_matrix(0xC706, 6, 4000);
  specs.insert(specs.end(), long_specs.begin(), long_specs.end());

  UlpStats total;
  std::map<std::string, UlpStats> by_pair;
  auto add = [](UlpStats& to, const UlpStats& u) {
    to.count += u.count;
    to.max_ulp = std::max(to.max_ulp, u.max_ulp);
    for (int i = 0; i < 7; ++i) to.hist[i] += u.hist[i];
  };
  for (const ProblemSpec& s : specs) {
    const HostProblem p = make_problem(s);
    if (p.desc.total_q == 0) continue;
    std::vector<uint16_t> vk_out(out_count(p.desc));
    std::vector<float> vk_lse(lse_count(p.desc));
    poison(vk_out, vk_lse);
    uint32_t vk_word = 0;
    const Status st = vk->decode_host(p.desc, p.data(), vk_out.data(), vk_lse.data(), &vk_word);
    REQUIRE_MESSAGE(st.ok(), st.to_string() << " " << p.describe());
    const gpu::Result cu = gpu::run(p);
    CHECK(vk_word == cu.status);
    const UlpStats u = ulp_diff(p, cu.out.data(), vk_out.data(), kFloorFrac);
    INFO(p.describe() << ": " << u.to_string());
    CHECK(u.max_ulp <= kMaxUlp);
    add(total, u);
    add(by_pair[std::string(to_string(p.desc.q_format)) + "/" + to_string(p.desc.kv_format)], u);
    // LSE: both float32 from the same logits.
    for (size_t r = 0; r < cu.lse.size(); ++r) {
      const float a = cu.lse[r], b = vk_lse[r];
      if (std::isinf(a) || std::isinf(b) || std::isnan(a) || std::isnan(b)) {
        CHECK_MESSAGE((a == b || (std::isnan(a) && std::isnan(b))), "lse row " << r << ": " << a << " vs " << b);
      } else {
        CHECK_MESSAGE(std::fabs(a - b) <= 1e-3 * std::max(1.f, std::fabs(a)), "lse row " << r << ": " << a << " vs " << b);
      }
    }
  }
  std::ostringstream pairs;
  for (const auto& [pair, u] : by_pair) pairs << "\n    " << pair << ": " << u.to_string();
  MESSAGE("cuda vs vulkan, " << specs.size() << " problems: " << total.to_string() << pairs.str());
  const int64_t within2 = total.hist[0] + total.hist[1] + total.hist[2];
  CHECK(total.count > 0);
  CHECK(double(within2) >= 0.99 * double(total.count));
}

#endif  // MLA_HAVE_VULKAN
