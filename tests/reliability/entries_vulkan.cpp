// The validation table through the Vulkan backend's entry points:
// Context::decode_host (validates everything on the host, metadata included),
// Context::workspace_bytes and Context::record_decode (the description; the
// caller's buffers of a valid problem are passed, so only the description
// can be at fault, and the command buffer is never submitted).
#include <doctest/doctest.h>

#include "device_problem.h"
#include "entry_table.h"
#include "mla/validate.h"
#include "vk_alloc.h"
#include "vk_fixture.h"

TEST_CASE("validation table: vulkan Context::decode_host") {
  rel::EntryPoint e;
  e.name = "vulkan::Context::decode_host";
  e.call = [](const rel::EntryCall& c) {
    const mla::Status st = vk_test::context().decode_host(c.d, c.data, c.out_bf16, c.lse, c.status_word);
    vk_test::check_validation_clean();
    return st;
  };
  rel::run_table(e);
}

TEST_CASE("validation table: vulkan Context::workspace_bytes") {
  rel::EntryPoint e;
  e.name = "vulkan::Context::workspace_bytes";
  e.reads_buffers = false;
  e.call = [](const rel::EntryCall& c) {
    VkDeviceSize bytes = 0;
    return vk_test::context().workspace_bytes(c.d, &bytes);
  };
  rel::run_table(e);
}

TEST_CASE("validation table: vulkan Context::record_decode") {
  rel::EntryPoint e;
  e.name = "vulkan::Context::record_decode";
  e.reads_buffers = false;
  // Only descriptions that validation rejects: a valid one would be checked
  // against the base problem's buffers, which do not match it.
  e.expressible = [](const rel::EntryCall& c) { return !mla::validate_desc(c.d).ok(); };
  e.call = [](const rel::EntryCall& c) {
    vk_test::DeviceProblem buffers(vk_test::context(), c.f.hp);
    vk_test::Submitter submitter(vk_test::context());
    const VkCommandBuffer cmd = submitter.begin();
    const mla::Status st = vk_test::context().record_decode(cmd, c.d, buffers.buffers());
    submitter.discard(cmd);
    vk_test::check_validation_clean();
    return st;
  };
  rel::run_table(e);
}
