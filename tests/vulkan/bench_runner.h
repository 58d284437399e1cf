// bench_runner.h - timing on the GPU for the bench test: a problem uploaded
// once into device-local buffers of a context, record_decode timed with the
// test's own timestamp queries, and the device-copy bandwidth measured the
// same way.
#pragma once

#include <vulkan/vulkan.h>

#include <vector>

#include "mla/vulkan.h"
#include "mla_test.h"

namespace vk_test {

class BenchRunner {
 public:
  BenchRunner(mla::vulkan::Context& ctx, const mla::test::HostProblem& p);  // REQUIREs every call
  ~BenchRunner();
  BenchRunner(const BenchRunner&) = delete;
  BenchRunner& operator=(const BenchRunner&) = delete;

  // Milliseconds of each of `reps` back-to-back decodes with desc (same shape as p).
  std::vector<double> time_decode(const mla::ProblemDesc& desc, int reps);
  // Milliseconds of each of `reps` copies of `bytes` between two device-local buffers.
  std::vector<double> time_copy(VkDeviceSize bytes, int reps);
  // BF16 output of the last decode.
  std::vector<uint16_t> out();

 private:
  struct Allocation {
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceMemory memory = VK_NULL_HANDLE;
    void* mapped = nullptr;
  };
  Allocation allocate(VkDeviceSize bytes, VkBufferUsageFlags usage, bool host_visible);
  void free(Allocation& a);
  mla::vulkan::BufferRange device_copy(const void* data, VkDeviceSize bytes, VkBufferUsageFlags extra = 0);
  VkCommandBuffer begin();
  void submit_and_wait(VkCommandBuffer cmd);
  std::vector<double> read_times(int reps);

  mla::vulkan::Context& ctx_;
  std::vector<Allocation> allocs_;
  mla::vulkan::DeviceBuffers buffers_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  int max_reps_ = 64;
  double tick_ns_ = 1;
};

}  // namespace vk_test
