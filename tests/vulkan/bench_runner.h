// bench_runner.h - timing on the GPU for the bench test: a problem uploaded
// once into device-local buffers of a context, record_decode timed with the
// test's own timestamp queries, and the device-copy bandwidth measured the
// same way.
#pragma once

#include <vulkan/vulkan.h>

#include <vector>

#include "mla/vulkan.h"
#include "mla_test.h"
#include "vk_alloc.h"

namespace vk_test {

class BenchRunner {
 public:
  BenchRunner(mla::vulkan::Context& ctx, const mla::test::HostProblem& p);  // REQUIREs every call
  ~BenchRunner();
  BenchRunner(const BenchRunner&) = delete;
  BenchRunner& operator=(const BenchRunner&) = delete;

  // Milliseconds of each of `reps` back-to-back decodes with desc (same shape as p, num_splits <= 16).
  std::vector<double> time_decode(const mla::ProblemDesc& desc, int reps);
  // Milliseconds of each of `reps` copies of `bytes` between two device-local buffers.
  std::vector<double> time_copy(VkDeviceSize bytes, int reps);
  // BF16 output of the last decode.
  std::vector<uint16_t> out();

 private:
  mla::vulkan::BufferRange device_copy(const void* data, VkDeviceSize bytes, VkBufferUsageFlags extra = 0);
  std::vector<double> read_times(int reps);

  mla::vulkan::Context& ctx_;
  std::vector<TestBuffer> buffers_owned_;
  mla::vulkan::DeviceBuffers buffers_;
  Submitter submitter_;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  static constexpr int kMaxReps = 64;
  double tick_ns_ = 1;
};

}  // namespace vk_test
