// The reliability suite on the Vulkan backend (lavapipe in CI, with the
// Khronos validation layer on: any message it prints fails the test). The
// host API is Context::decode_host; device-side metadata goes through
// record_decode on the caller's VkBuffers (tests/vulkan/device_problem.h).
// Exit 77 without a Vulkan device.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "backend.h"
#include "device_problem.h"
#include "mla/vulkan.h"
#include "tally.h"
#include "vk_fixture.h"

namespace rel {

namespace {

class VulkanBackend : public Backend {
 public:
  std::string name() const override { return "vulkan (" + vk_test::context().device_name() + ")"; }

  mla::Status decode(const mla::test::HostProblem& p, Run* r) override {
    const mla::Status st =
        vk_test::context().decode_host(p.desc, p.data(), r->out.data(), r->lse.data(), &r->status_word);
    vk_test::check_validation_clean();
    return st;
  }

  bool has_device_metadata() const override { return true; }

  mla::Status decode_device_metadata(const mla::test::HostProblem& p, const Metadata& m, Run* r) override {
    vk_test::DeviceProblem dp(vk_test::context(), p);
    std::memcpy(dp.q_offsets(), m.q_offsets.data(), m.q_offsets.size() * 4);
    if (!m.kv_lens.empty()) std::memcpy(dp.kv_lens(), m.kv_lens.data(), m.kv_lens.size() * 4);
    if (!m.page_table.empty()) std::memcpy(dp.page_table(), m.page_table.data(), m.page_table.size() * 4);
    const mla::Status st = dp.run();  // poisons out / lse / status itself
    vk_test::check_validation_clean();
    if (!st.ok()) return st;
    r->out = dp.out();
    r->lse = dp.lse();
    const std::vector<uint32_t> words = dp.status();
    r->status_word = words[0];
    r->request_status.assign(words.begin() + 1, words.end());
    return st;
  }
};

}  // namespace

Backend& backend() {
  static VulkanBackend b;
  return b;
}

}  // namespace rel

// Skips (77) without a Vulkan device, and when MLA_VULKAN_REQUIRE_GPU is set
// and the device found is a CPU (the GPU registration on a machine whose
// only Vulkan device is lavapipe; lavapipe has its own registration).
int main(int argc, char** argv) {
  // Issue 7: the fault tables run with robust buffer access on (plus the
  // validation layer), unless MLA_VULKAN_ROBUST says otherwise; a device
  // without the feature fails the context creation, naming it.
  setenv("MLA_VULKAN_ROBUST", "1", 0);
  const int rc = rel::run_and_report(argc, argv, []() -> std::string {
    const std::string why = mla::vulkan::unavailable_reason();
    if (!why.empty() || !std::getenv("MLA_VULKAN_REQUIRE_GPU")) return why;
    std::unique_ptr<mla::vulkan::Context> ctx;  // outside a test case: no REQUIRE (vk_test::context)
    const mla::Status st = mla::vulkan::Context::create(&ctx);
    if (!st.ok()) return st.to_string();
    const mla::vulkan::DeviceInfo info = ctx->device_info();
    return info.type == "cpu" ? "MLA_VULKAN_REQUIRE_GPU is set and the device is a CPU (" + info.name + ")" : "";
  });
  // Destroy the shared context before static destructors run: the NVIDIA
  // driver's own exit handlers may already be gone by then (it segfaulted
  // at exit on the H200 after every test had passed).
  vk_test::release_context();
  return rc;
}
