// context_impl.h - what a Context owns. Shared by context.cpp (creation),
// record.cpp (the VkBuffer API) and host_decode.cpp (the host-memory API).
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "buffer.h"
#include "instance.h"
#include "mla/vulkan.h"
#include "physical.h"
#include "pipeline_cache.h"
#include "pipelines.h"

namespace mla::vulkan {

struct Context::Impl {
  std::atomic<uint64_t> validation_messages{0};  // the messenger's counter: must outlive it
  vulkan_impl::Instance instance;
  vulkan_impl::PhysicalDevice phys;
  VkPhysicalDeviceMemoryProperties memory_props{};
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  PFN_vkCmdPushDescriptorSetKHR push_descriptor_set = nullptr;
  vulkan_impl::PipelineCache pipeline_cache;  // every pipeline is created through it
  vulkan_impl::Pipelines pipelines;
  std::vector<std::pair<std::string, double>> create_ms;  // DeviceInfo::create_ms
  std::string coopmat_missing;  // why the cooperative-matrix decode cannot run ("" when it can)
  bool robust_buffer_access = false;  // the device was created with robustBufferAccess
  VkCommandPool command_pool = VK_NULL_HANDLE;  // decode_host's command buffers
  VkFence fence = VK_NULL_HANDLE;
  VkQueryPool timestamps = VK_NULL_HANDLE;      // 2 queries; null without timestamp support
  vulkan_impl::Buffer dummy;                    // bound where a problem has no buffer
  vulkan_impl::Buffer fp8_table;                // float [256], mla::fp8_e4m3_table()
  // MLA_VULKAN_CM_PROFILE=1 only (pipelines.profile): uint [MLA_VK_PROF_WORDS],
  // host-visible, bound at MLA_VK_BIND_PROFILE, cleared before each decode.
  vulkan_impl::Buffer profile;

  ~Impl();
};

}  // namespace mla::vulkan
