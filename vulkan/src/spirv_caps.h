// spirv_caps.h - the SPIR-V capabilities the embedded shaders declare, checked
// against the device, so that a shader edit that starts using (say) Int64 is a
// clear error at context creation instead of a driver failure.
#pragma once

#include <vulkan/vulkan.h>

#include <string>

namespace mla::vulkan_impl {

// The native cooperative-matrix decode modules (decode_cm_*): optional, their
// capabilities (CooperativeMatrixNV, Float16, VulkanMemoryModel, subgroup
// operations) are checked by coopmat_missing() (physical.h) instead.
bool is_coopmat_module(const char* name);
// The clock-profile modules (*_pf): optional, their ShaderClockKHR
// capability is checked and enabled only when MLA_VULKAN_CM_PROFILE=1 (context.cpp).
bool is_profile_module(const char* name);

// "" when the device supports every capability of every embedded module
// (but the optional cooperative-matrix ones), else the first one missing
// (named by module and feature).
std::string missing_spirv_capability(VkPhysicalDevice pd);

// The core features to enable at device creation for those capabilities.
VkPhysicalDeviceFeatures spirv_required_features();

}  // namespace mla::vulkan_impl
