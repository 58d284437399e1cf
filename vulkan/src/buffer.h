// buffer.h - a VkBuffer with its own memory allocation, for the host-memory
// API's device copies and staging (one allocation per buffer: decode_host is
// not a hot path; kernel time is measured with timestamps).
#pragma once

#include <vulkan/vulkan.h>

#include "mla/status.h"

namespace mla::vulkan_impl {

class Buffer {
 public:
  Buffer() = default;
  ~Buffer() { reset(); }
  Buffer(Buffer&& o) noexcept { *this = static_cast<Buffer&&>(o); }
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  // host_visible: HOST_VISIBLE | HOST_COHERENT memory, mapped; else
  // DEVICE_LOCAL when there is such a type. size is rounded up to 16 (> 0).
  static Status create(VkDevice device, const VkPhysicalDeviceMemoryProperties& props, VkDeviceSize size,
                       VkBufferUsageFlags usage, bool host_visible, Buffer* out);
  void reset();

  VkBuffer handle() const { return buffer_; }
  VkDeviceSize size() const { return size_; }
  void* mapped() const { return mapped_; }

 private:
  VkDevice device_ = VK_NULL_HANDLE;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkDeviceSize size_ = 0;
  void* mapped_ = nullptr;
};

}  // namespace mla::vulkan_impl
