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
#include "vk_alloc.h"

namespace vk_test {

class DeviceProblem {
 public:
  DeviceProblem(mla::vulkan::Context& ctx, const mla::test::HostProblem& p);  // REQUIREs every call
  ~DeviceProblem();
  DeviceProblem(const DeviceProblem&) = delete;
  DeviceProblem& operator=(const DeviceProblem&) = delete;

  // The device copies of the metadata, writable before run().
  int32_t* page_table() { return static_cast<int32_t*>(page_table_.mapped); }
  int32_t* q_offsets() { return static_cast<int32_t*>(q_offsets_.mapped); }
  int32_t* kv_lens() { return static_cast<int32_t*>(kv_lens_.mapped); }

  // Poisons out / lse / status, records and submits the decode, waits.
  // Returns record_decode's status (submission failures are REQUIRE failures).
  mla::Status run();
  // Results of the last run().
  std::vector<uint16_t> out() const;
  std::vector<float> lse() const;
  std::vector<uint32_t> status() const;  // [1 + B]

  mla::vulkan::DeviceBuffers& buffers() { return buffers_; }

 private:
  mla::vulkan::BufferRange make(VkDeviceSize bytes, const void* data, TestBuffer* keep = nullptr);

  mla::vulkan::Context& ctx_;
  mla::ProblemDesc desc_;
  std::vector<TestBuffer> inputs_;  // buffers not kept below
  TestBuffer page_table_, q_offsets_, kv_lens_, out_, lse_, status_;
  mla::vulkan::DeviceBuffers buffers_;
  Submitter submitter_;
};

}  // namespace vk_test
