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

// Appends Vulkan structures to a pNext chain.
struct Chain {
  void** next;
  explicit Chain(void** head) : next(head) {}
  template <class T>
  void add(T* s) {
    *next = s;
    next = &s->pNext;
  }
};

const char* component_name(VkComponentTypeNV t) {
  switch (t) {
    case VK_COMPONENT_TYPE_FLOAT16_NV: return "f16";
    case VK_COMPONENT_TYPE_FLOAT32_NV: return "f32";
    case VK_COMPONENT_TYPE_FLOAT64_NV: return "f64";
    case VK_COMPONENT_TYPE_SINT8_NV: return "s8";
    case VK_COMPONENT_TYPE_UINT8_NV: return "u8";
    case VK_COMPONENT_TYPE_SINT32_NV: return "s32";
    case VK_COMPONENT_TYPE_UINT32_NV: return "u32";
    default: return "other";
  }
}

// Features, properties and matrix shapes of the cooperative-matrix path
// (only the structures of extensions the device reports are chained).
Status describe_coopmat(VkInstance instance, VkPhysicalDevice pd, PhysicalDevice* out) {
  CoopMatSupport& c = out->coopmat;
  c.ext_coopmat = out->has_extension(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  c.ext_memory_model = out->has_extension(VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME);
  c.ext_float16 = out->has_extension(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
  c.ext_subgroup_size = out->has_extension(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);

  auto f2 = vk_struct<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
  auto f_cm = vk_struct<VkPhysicalDeviceCooperativeMatrixFeaturesNV>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV);
  auto f_mm = vk_struct<VkPhysicalDeviceVulkanMemoryModelFeaturesKHR>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES_KHR);
  auto f_16 = vk_struct<VkPhysicalDeviceShaderFloat16Int8FeaturesKHR>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES_KHR);
  auto f_sg = vk_struct<VkPhysicalDeviceSubgroupSizeControlFeaturesEXT>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT);
  auto p2 = vk_struct<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
  auto p_cm = vk_struct<VkPhysicalDeviceCooperativeMatrixPropertiesNV>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV);
  auto p_sg = vk_struct<VkPhysicalDeviceSubgroupSizeControlPropertiesEXT>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT);
  Chain features(&f2.pNext), properties(&p2.pNext);
  if (c.ext_coopmat) {
    features.add(&f_cm);
    properties.add(&p_cm);
  }
  if (c.ext_memory_model) features.add(&f_mm);
  if (c.ext_float16) features.add(&f_16);
  if (c.ext_subgroup_size) {
    features.add(&f_sg);
    properties.add(&p_sg);
  }
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  vkGetPhysicalDeviceProperties2(pd, &p2);
  c.cooperative_matrix = c.ext_coopmat && f_cm.cooperativeMatrix;
  c.coopmat_stages = c.ext_coopmat ? p_cm.cooperativeMatrixSupportedStages : 0;
  c.vulkan_memory_model = c.ext_memory_model && f_mm.vulkanMemoryModel;
  c.vulkan_memory_model_device_scope = c.vulkan_memory_model && f_mm.vulkanMemoryModelDeviceScope;
  c.shader_float16 = c.ext_float16 && f_16.shaderFloat16;
  c.subgroup_size_control = c.ext_subgroup_size && f_sg.subgroupSizeControl;
  c.compute_full_subgroups = c.ext_subgroup_size && f_sg.computeFullSubgroups;
  if (c.ext_subgroup_size) {
    c.min_subgroup_size = p_sg.minSubgroupSize;
    c.max_subgroup_size = p_sg.maxSubgroupSize;
    c.required_subgroup_size_stages = p_sg.requiredSubgroupSizeStages;
  }
  if (!c.ext_coopmat) return Status::Ok();

  auto get_props = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
      vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
  if (!get_props) return Status::Ok();  // reported as missing shapes
  uint32_t n = 0;
  MLA_VK_CHECK(get_props(pd, &n, nullptr));
  std::vector<VkCooperativeMatrixPropertiesNV> props(
      n, vk_struct<VkCooperativeMatrixPropertiesNV>(VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV));
  MLA_VK_CHECK(get_props(pd, &n, props.data()));
  props.resize(n);
  for (const auto& m : props) {
    c.shapes += (c.shapes.empty() ? "" : ", ") + std::to_string(m.MSize) + "x" + std::to_string(m.NSize) + "x" +
                std::to_string(m.KSize) + " " + component_name(m.AType) + "*" + component_name(m.BType) + "+" +
                component_name(m.CType) + (m.scope == VK_SCOPE_SUBGROUP_NV ? "" : " (not subgroup scope)");
    if (m.MSize == 16 && m.NSize == 16 && m.KSize == 16 && m.AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
        m.BType == VK_COMPONENT_TYPE_FLOAT16_NV && m.CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
        m.DType == VK_COMPONENT_TYPE_FLOAT32_NV && m.scope == VK_SCOPE_SUBGROUP_NV)
      c.shape_16x16x16 = true;
  }
  return Status::Ok();
}

// Everything the selection and the context need to know about one device.
Status describe(VkInstance instance, VkPhysicalDevice pd, uint32_t index, PhysicalDevice* out) {
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
  Chain chain(&p2.pNext);
  chain.add(&subgroup);
  const bool has_push = out->has_extension(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  const bool has_nv = out->has_extension(VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME);
  const bool has_amd = out->has_extension(VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME);
  const bool has_drv = out->has_extension(VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
  if (has_push) chain.add(&push);
  if (has_nv) chain.add(&nv_sm);
  if (has_amd) chain.add(&amd);
  if (has_drv) chain.add(&drv);
  vkGetPhysicalDeviceProperties2(pd, &p2);
  out->subgroup_size = subgroup.subgroupSize;
  out->subgroup_stages = subgroup.supportedStages;
  out->subgroup_operations = subgroup.supportedOperations;
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
  return describe_coopmat(instance, pd, out);
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

std::string coopmat_missing(const PhysicalDevice& d) {
  const CoopMatSupport& c = d.coopmat;
  if (!c.ext_coopmat) return "missing device extension VK_NV_cooperative_matrix";
  if (!c.cooperative_matrix) return "VK_NV_cooperative_matrix: feature cooperativeMatrix is not supported";
  if (!(c.coopmat_stages & VK_SHADER_STAGE_COMPUTE_BIT))
    return "VK_NV_cooperative_matrix: cooperativeMatrixSupportedStages lacks the compute stage";
  if (!c.shape_16x16x16)
    return "VK_NV_cooperative_matrix: no 16x16x16 fp16*fp16+fp32 shape at subgroup scope (the device offers: " +
           (c.shapes.empty() ? std::string("none") : c.shapes) + ")";
  if (!c.ext_memory_model || !c.vulkan_memory_model)
    return c.ext_memory_model ? "VK_KHR_vulkan_memory_model: feature vulkanMemoryModel is not supported"
                              : "missing device extension VK_KHR_vulkan_memory_model";
  if (!c.vulkan_memory_model_device_scope)
    return "VK_KHR_vulkan_memory_model: feature vulkanMemoryModelDeviceScope is not supported";
  if (!c.ext_float16 || !c.shader_float16)
    return c.ext_float16 ? "VK_KHR_shader_float16_int8: feature shaderFloat16 is not supported"
                         : "missing device extension VK_KHR_shader_float16_int8 (shaderFloat16)";
  if (!c.ext_subgroup_size) return "missing device extension VK_EXT_subgroup_size_control (subgroups of 32)";
  if (!c.subgroup_size_control || !c.compute_full_subgroups)
    return "VK_EXT_subgroup_size_control: feature subgroupSizeControl or computeFullSubgroups is not supported";
  if (c.min_subgroup_size > MLA_VK_CM_SUBGROUP || c.max_subgroup_size < MLA_VK_CM_SUBGROUP ||
      !(c.required_subgroup_size_stages & VK_SHADER_STAGE_COMPUTE_BIT))
    return "subgroup size " + std::to_string(MLA_VK_CM_SUBGROUP) + " cannot be required in compute shaders (sizes " +
           std::to_string(c.min_subgroup_size) + ".." + std::to_string(c.max_subgroup_size) + ")";
  const VkSubgroupFeatureFlags ops =
      VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
  if (!(d.subgroup_stages & VK_SHADER_STAGE_COMPUTE_BIT) || (d.subgroup_operations & ops) != ops)
    return "subgroup operations basic, arithmetic and shuffle in compute shaders are not all supported";
  const VkPhysicalDeviceLimits& l = d.props.limits;
  const uint32_t smem = MLA_VK_CM_SMEM_BYTES(1, 16), threads = MLA_VK_CM_THREADS(1);
  if (l.maxComputeSharedMemorySize < smem)
    return "maxComputeSharedMemorySize = " + std::to_string(l.maxComputeSharedMemorySize) + " < " +
           std::to_string(smem) + " bytes of the smallest cooperative-matrix tile";
  if (l.maxComputeWorkGroupInvocations < threads || l.maxComputeWorkGroupSize[0] < threads)
    return "maxComputeWorkGroupInvocations < " + std::to_string(threads);
  return "";
}

Status select_physical_device(VkInstance instance, const mla::vulkan::Options& options, PhysicalDevice* out) {
  uint32_t n = 0;
  MLA_VK_CHECK(vkEnumeratePhysicalDevices(instance, &n, nullptr));
  std::vector<VkPhysicalDevice> handles(n);
  MLA_VK_CHECK(vkEnumeratePhysicalDevices(instance, &n, handles.data()));
  if (n == 0) return Status(StatusCode::not_available, "no Vulkan device found (is a driver / ICD installed?)");
  std::vector<PhysicalDevice> devs(n);
  for (uint32_t i = 0; i < n; ++i) MLA_RETURN_IF_ERROR(describe(instance, handles[i], i, &devs[i]));

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
