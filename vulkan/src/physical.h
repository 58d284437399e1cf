// physical.h - choosing the physical device and checking, up front, that it
// has everything the backend uses.
#pragma once

#include <vulkan/vulkan.h>

#include <string>
#include <vector>

#include "mla/status.h"
#include "mla/vulkan.h"

namespace mla::vulkan_impl {

// What the cooperative-matrix decode (decode_cm.comp) needs, as the device reports it.
struct CoopMatSupport {
  bool ext_coopmat = false, ext_memory_model = false, ext_float16 = false, ext_subgroup_size = false;
  bool cooperative_matrix = false;   // VkPhysicalDeviceCooperativeMatrixFeaturesNV
  bool vulkan_memory_model = false;  // VkPhysicalDeviceVulkanMemoryModelFeaturesKHR
  // ...and its device scope: once vulkanMemoryModel is on, every shader of the
  // context (the planner's and combine's device-scope atomics and barriers
  // too) needs it (VUID-RuntimeSpirv-vulkanMemoryModel-06265, seen on the
  // NVIDIA driver).
  bool vulkan_memory_model_device_scope = false;
  bool shader_float16 = false;       // VkPhysicalDeviceShaderFloat16Int8FeaturesKHR
  bool subgroup_size_control = false, compute_full_subgroups = false;
  VkShaderStageFlags coopmat_stages = 0;           // cooperativeMatrixSupportedStages
  VkShaderStageFlags required_subgroup_size_stages = 0;
  uint32_t min_subgroup_size = 0, max_subgroup_size = 0;
  bool shape_16x16x16 = false;  // fp16 A, B; fp32 C, D; subgroup scope
  std::string shapes;           // every reported shape, for messages
};

struct PhysicalDevice {
  VkPhysicalDevice handle = VK_NULL_HANDLE;
  uint32_t index = 0;  // in vkEnumeratePhysicalDevices order
  VkPhysicalDeviceProperties props{};
  std::vector<VkExtensionProperties> extensions;
  uint32_t queue_family = UINT32_MAX;  // a family with compute, preferring timestamps
  uint32_t timestamp_bits = 0;
  uint32_t compute_units = 0;
  uint32_t subgroup_size = 0;
  uint32_t max_push_descriptors = 0;
  VkShaderStageFlags subgroup_stages = 0;
  VkSubgroupFeatureFlags subgroup_operations = 0;
  std::string driver;
  CoopMatSupport coopmat;

  bool has_extension(const char* name) const;
  bool is_cpu() const { return props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU; }
};

// Picks by Options (index or name), else MLA_VULKAN_DEVICE, else the best
// usable device: discrete > integrated > virtual > CPU > other, then by index.
// An explicitly chosen device that lacks a requirement is an error naming it.
Status select_physical_device(VkInstance instance, const mla::vulkan::Options& options, PhysicalDevice* out);

// "" when the device has what the backend needs, else what it lacks.
std::string missing_requirement(const PhysicalDevice& dev);

const char* device_type_name(VkPhysicalDeviceType t);

// "" when the device can run the cooperative-matrix decode, else the first
// thing it lacks (extension, feature, matrix shape, subgroup size, limit).
std::string coopmat_missing(const PhysicalDevice& dev);

}  // namespace mla::vulkan_impl
