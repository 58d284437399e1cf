// Physical device enumeration, ranking, MLA_VULKAN_DEVICE, requirements.
#include "physical.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "shader_interface.h"
#include "spirv_caps.h"
#include "vk_check.h"
#include "vk_struct.h"

namespace mla::vulkan_impl {

bool PhysicalDevice::has_extension(const char* name) const {
  for (const auto& e : extensions)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

const char* device_type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

namespace {

int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Everything the selection and the context need to know about one device.
Status describe(VkPhysicalDevice pd, uint32_t index, PhysicalDevice* out) {
  out->handle = pd;
  out->index = index;
  vkGetPhysicalDeviceProperties(pd, &out->props);
  uint32_t n = 0;
  MLA_VK_CHECK(vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr));
  out->extensions.resize(n);
  MLA_VK_CHECK(vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, out->extensions.data()));

  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, nullptr);
  std::vector<VkQueueFamilyProperties> families(n);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, families.data());
  for (uint32_t f = 0; f < n; ++f) {
    if (!(families[f].queueFlags & VK_QUEUE_COMPUTE_BIT) || families[f].queueCount == 0) continue;
    const bool better = out->queue_family == UINT32_MAX ||
                        (out->timestamp_bits == 0 && families[f].timestampValidBits > 0);
    if (better) {
      out->queue_family = f;
      out->timestamp_bits = families[f].timestampValidBits;
    }
  }
  if (out->props.apiVersion < VK_API_VERSION_1_1) return Status::Ok();  // no properties2; reported as missing

  // Chain only the structures of extensions the device reports.
  auto p2 = vk_struct<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
  auto subgroup = vk_struct<VkPhysicalDeviceSubgroupProperties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES);
  auto push = vk_struct<VkPhysicalDevicePushDescriptorPropertiesKHR>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PUSH_DESCRIPTOR_PROPERTIES_KHR);
  auto nv_sm = vk_struct<VkPhysicalDeviceShaderSMBuiltinsPropertiesNV>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV);
  auto amd = vk_struct<VkPhysicalDeviceShaderCorePropertiesAMD>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD);
  auto drv = vk_struct<VkPhysicalDeviceDriverPropertiesKHR>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES_KHR);
  void** next = &p2.pNext;
  auto chain = [&](auto* s) {
    *next = s;
    next = &s->pNext;
  };
  chain(&subgroup);
  const bool has_push = out->has_extension(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  const bool has_nv = out->has_extension(VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME);
  const bool has_amd = out->has_extension(VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME);
  const bool has_drv = out->has_extension(VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
  if (has_push) chain(&push);
  if (has_nv) chain(&nv_sm);
  if (has_amd) chain(&amd);
  if (has_drv) chain(&drv);
  vkGetPhysicalDeviceProperties2(pd, &p2);
  out->subgroup_size = subgroup.subgroupSize;
  out->max_push_descriptors = has_push ? push.maxPushDescriptors : 0;
  if (has_drv) out->driver = std::string(drv.driverName) + " " + drv.driverInfo;

  // Compute units size the automatic split-K; vendors that expose them say so.
  if (has_nv && nv_sm.shaderSMCount > 0) {
    out->compute_units = nv_sm.shaderSMCount;
  } else if (has_amd && amd.computeUnitsPerShaderArray > 0) {
    out->compute_units = amd.shaderEngineCount * amd.shaderArraysPerEngineCount * amd.computeUnitsPerShaderArray;
  } else if (out->is_cpu()) {
    out->compute_units = std::max(1u, std::thread::hardware_concurrency());
  } else {
    out->compute_units = out->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ? 32 : 8;
  }
  return Status::Ok();
}

std::string label(const PhysicalDevice& d) {
  return "device " + std::to_string(d.index) + " \"" + d.props.deviceName + "\" (" +
         device_type_name(d.props.deviceType) + ")";
}

std::string device_list(const std::vector<PhysicalDevice>& devs) {
  std::string s;
  for (const auto& d : devs) s += (s.empty() ? "" : ", ") + label(d);
  return s.empty() ? "none" : s;
}

Status check_chosen(const PhysicalDevice& d) {
  const std::string missing = missing_requirement(d);
  if (missing.empty()) return Status::Ok();
  return Status(StatusCode::not_available, label(d) + " cannot run the MLA backend: " + missing);
}

}  // namespace

std::string missing_requirement(const PhysicalDevice& d) {
  if (d.props.apiVersion < VK_API_VERSION_1_1)
    return "Vulkan 1.1 is required, the device offers " + std::to_string(VK_API_VERSION_MAJOR(d.props.apiVersion)) +
           "." + std::to_string(VK_API_VERSION_MINOR(d.props.apiVersion));
  if (d.queue_family == UINT32_MAX) return "no queue family supports compute";
  if (!d.has_extension(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME))
    return "missing device extension VK_KHR_push_descriptor (descriptors are pushed into the caller's command buffer)";
  if (d.max_push_descriptors < MLA_VK_NUM_BINDINGS)
    return "maxPushDescriptors = " + std::to_string(d.max_push_descriptors) + " < " +
           std::to_string(MLA_VK_NUM_BINDINGS) + " bindings";
  const VkPhysicalDeviceLimits& l = d.props.limits;
  const uint32_t smallest_tile = MLA_VK_DECODE_SMEM_BYTES(4, 4, MLA_VK_QK_BATCH(4));
  if (l.maxComputeSharedMemorySize < smallest_tile)
    return "maxComputeSharedMemorySize = " + std::to_string(l.maxComputeSharedMemorySize) + " < " +
           std::to_string(smallest_tile) + " bytes of the smallest decode tile";
  const uint32_t threads = std::max({MLA_VK_PAGES_THREADS, MLA_VK_PLAN_THREADS, MLA_VK_COMBINE_THREADS,
                                     MLA_VK_DECODE_THREADS(4)});
  if (l.maxComputeWorkGroupInvocations < threads || l.maxComputeWorkGroupSize[0] < threads)
    return "maxComputeWorkGroupInvocations / maxComputeWorkGroupSize[0] = " +
           std::to_string(l.maxComputeWorkGroupInvocations) + " / " + std::to_string(l.maxComputeWorkGroupSize[0]) +
           " < " + std::to_string(threads);
  if (l.maxPushConstantsSize < sizeof(PushConstants))
    return "maxPushConstantsSize = " + std::to_string(l.maxPushConstantsSize) + " < " +
           std::to_string(sizeof(PushConstants));
  return missing_spirv_capability(d.handle);
}

Status select_physical_device(VkInstance instance, const mla::vulkan::Options& options, PhysicalDevice* out) {
  uint32_t n = 0;
  MLA_VK_CHECK(vkEnumeratePhysicalDevices(instance, &n, nullptr));
  std::vector<VkPhysicalDevice> handles(n);
  MLA_VK_CHECK(vkEnumeratePhysicalDevices(instance, &n, handles.data()));
  if (n == 0) return Status(StatusCode::not_available, "no Vulkan device found (is a driver / ICD installed?)");
  std::vector<PhysicalDevice> devs(n);
  for (uint32_t i = 0; i < n; ++i) MLA_RETURN_IF_ERROR(describe(handles[i], i, &devs[i]));

  // An explicit choice: Options first, then the environment.
  int index = options.device_index;
  std::string name = options.device_name;
  const char* env = std::getenv("MLA_VULKAN_DEVICE");
  if (index < 0 && name.empty() && env && *env) {
    const std::string v = env;
    if (std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      index = std::atoi(v.c_str());
    else
      name = v;
  }
  if (index >= 0) {
    if (uint32_t(index) >= n)
      return Status(StatusCode::not_available, "Vulkan device index " + std::to_string(index) +
                                                   " does not exist; devices: " + device_list(devs));
    *out = devs[index];
    return check_chosen(*out);
  }
  if (!name.empty()) {
    for (const auto& d : devs)
      if (lower(d.props.deviceName).find(lower(name)) != std::string::npos) {
        *out = d;
        return check_chosen(*out);
      }
    return Status(StatusCode::not_available,
                  "no Vulkan device name contains \"" + name + "\"; devices: " + device_list(devs));
  }

  std::stable_sort(devs.begin(), devs.end(), [](const PhysicalDevice& a, const PhysicalDevice& b) {
    return type_rank(a.props.deviceType) < type_rank(b.props.deviceType);
  });
  for (const auto& d : devs)
    if (missing_requirement(d).empty()) {
      *out = d;
      return Status::Ok();
    }
  *out = devs.front();
  return check_chosen(*out);
}

}  // namespace mla::vulkan_impl
