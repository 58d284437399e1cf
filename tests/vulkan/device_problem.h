// device_problem.h - a problem in the caller's own VkBuffers, run through
// Context::record_decode in a command buffer the test records and submits
// itself (the way an application that keeps its KV cache in Vulkan memory
// uses the library). Buffers are host-visible so that tests can corrupt the
// device-side metadata after upload.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <vector>

#include "mla/vulkan.h"
#include "mla_test.h"

namespace vk_test {

class DeviceProblem {
 public:
  DeviceProblem(mla::vulkan::Context& ctx, const mla::test::HostProblem& p);  // REQUIREs every call
  ~DeviceProblem();
  DeviceProblem(const DeviceProblem&) = delete;
  DeviceProblem& operator=(const DeviceProblem&) = delete;

  // The device copies of the metadata, writable before run().
  int32_t* page_table();
  int32_t* q_offsets();
  int32_t* kv_lens();

  // Poisons out / lse / status, records and submits the decode, waits.
  // Returns record_decode's status (submission failures are REQUIRE failures).
  mla::Status run();
  // Results of the last run().
  std::vector<uint16_t> out() const;
  std::vector<float> lse() const;
  std::vector<uint32_t> status() const;  // [1 + B]

  mla::vulkan::DeviceBuffers& buffers() { return buffers_; }

 private:
  struct Allocation {
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceMemory memory = VK_NULL_HANDLE;
    void* mapped = nullptr;
    VkDeviceSize size = 0;
  };
  mla::vulkan::BufferRange make(VkDeviceSize bytes, const void* data, Allocation** alloc = nullptr);

  mla::vulkan::Context& ctx_;
  mla::ProblemDesc desc_;
  std::vector<Allocation> allocs_;
  Allocation *page_table_ = nullptr, *q_offsets_ = nullptr, *kv_lens_ = nullptr;
  Allocation *out_ = nullptr, *lse_ = nullptr, *status_ = nullptr;
  mla::vulkan::DeviceBuffers buffers_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
};

}  // namespace vk_test
