// vk_alloc.h - raw Vulkan for the tests that act as an application of the
// VkBuffer API: buffers on the context's device and a one-shot submitter.
// Every call is REQUIREd to succeed.
#pragma once

#include <vulkan/vulkan.h>

#include "mla/vulkan.h"

#define VK_REQUIRE(call)                                              \
  do {                                                                \
    const VkResult r_ = (call);                                       \
    REQUIRE_MESSAGE(r_ == VK_SUCCESS, #call " returned " << int(r_)); \
  } while (0)

namespace vk_test {

struct TestBuffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  void* mapped = nullptr;  // host_visible buffers only
  VkDeviceSize size = 0;   // bytes asked for, rounded up to 16
};

// host_visible: HOST_VISIBLE | HOST_COHERENT and mapped; else DEVICE_LOCAL when there is such a type.
TestBuffer alloc_buffer(mla::vulkan::Context& ctx, VkDeviceSize bytes, VkBufferUsageFlags usage, bool host_visible);
void free_buffer(mla::vulkan::Context& ctx, TestBuffer& b);

// Command buffers on the context's queue, submitted one at a time and waited for.
class Submitter {
 public:
  explicit Submitter(mla::vulkan::Context& ctx);
  ~Submitter();
  Submitter(const Submitter&) = delete;
  Submitter& operator=(const Submitter&) = delete;
  VkCommandBuffer begin();
  void submit_and_wait(VkCommandBuffer cmd);  // ends, submits, waits, frees
  void discard(VkCommandBuffer cmd);          // ends and frees without submitting

 private:
  mla::vulkan::Context& ctx_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
};

// A global memory barrier (the tests' side of the synchronisation contract).
void memory_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags src_access, VkPipelineStageFlags dst,
                    VkAccessFlags dst_access);

}  // namespace vk_test
