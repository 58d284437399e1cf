// instance.h - the VkInstance of a context, with the Khronos validation layer
// and a debug messenger that counts its warnings and errors when asked.
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>

#include "mla/status.h"

namespace mla::vulkan_impl {

struct Instance {
  VkInstance instance = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  bool portability = false;  // VK_KHR_portability_enumeration enabled (MoltenVK devices listed)
};

// validation: enable VK_LAYER_KHRONOS_validation (fails with not_available
// when it is not installed) and install a messenger that increments *counter
// for every validation / performance warning or error and prints it.
Status create_instance(bool validation, std::atomic<uint64_t>* counter, Instance* out);
void destroy_instance(Instance* inst);

// MLA_VULKAN_VALIDATION is set to something other than "0".
bool validation_requested_by_env();

}  // namespace mla::vulkan_impl
