// The Vulkan suite's main: skips (77) without a usable device, and when
// MLA_VULKAN_REQUIRE_GPU is set and the chosen device is a CPU (lavapipe runs
// have their own registrations).
#include <cstdlib>
#include <memory>
#include <string>

#include "mla/vulkan.h"
#include "mla_test.h"
#include "vk_fixture.h"

int main(int argc, char** argv) {
  const int rc = mla::test::run_suite(argc, argv, []() -> std::string {
    std::string why = mla::vulkan::unavailable_reason();
    if (!why.empty() || !std::getenv("MLA_VULKAN_REQUIRE_GPU")) return why;
    std::unique_ptr<mla::vulkan::Context> ctx;
    const mla::Status st = mla::vulkan::Context::create(&ctx);
    if (!st.ok()) return st.to_string();
    const auto info = ctx->device_info();
    if (info.type == "cpu") return "MLA_VULKAN_REQUIRE_GPU is set and the device is a CPU (" + info.name + ")";
    return "";
  });
  vk_test::release_context();
  return rc;
}
