// vk_check.h - every Vulkan call of the backend goes through MLA_VK_CHECK,
// which turns a failing VkResult into an mla::Status naming the call.
#pragma once

#include <vulkan/vulkan.h>

#include "mla/status.h"

namespace mla::vulkan_impl {

// "VK_ERROR_DEVICE_LOST" etc.; "VkResult(<n>)" for values this file does not know.
const char* vk_result_name(VkResult r);

// out_of_memory for the two memory errors, device_error otherwise.
Status vk_error(VkResult r, const char* call);

}  // namespace mla::vulkan_impl

#define MLA_VK_CHECK(call)                                                        \
  do {                                                                            \
    const VkResult mla_vk_result_ = (call);                                       \
    if (mla_vk_result_ != VK_SUCCESS) return ::mla::vulkan_impl::vk_error(mla_vk_result_, #call); \
  } while (0)
