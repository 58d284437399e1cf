// OpCapability scan of the embedded modules.
#include "spirv_caps.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "mla_spirv.h"

namespace mla::vulkan_impl {

namespace {

constexpr uint32_t kOpCapability = 17;
// SPIR-V capability numbers (SPIR-V spec, "Capability").
constexpr uint32_t kCapShader = 1;
constexpr uint32_t kCapFloat64 = 10;
constexpr uint32_t kCapInt64 = 11;
constexpr uint32_t kCapInt16 = 22;

std::vector<uint32_t> capabilities(const spirv::Module& m) {
  std::vector<uint32_t> caps;
  for (size_t i = 5; i < m.count;) {  // after the 5-word header
    const uint32_t words = m.words[i] >> 16, op = m.words[i] & 0xFFFFu;
    if (words == 0) break;
    if (op == kOpCapability && words >= 2 && i + 1 < m.count) caps.push_back(m.words[i + 1]);
    i += words;
  }
  return caps;
}

}  // namespace

bool is_coopmat_module(const char* name) { return std::strncmp(name, "decode_cm_", 10) == 0; }

bool is_profile_module(const char* name) {
  const size_t n = std::strlen(name);
  return n >= 3 && std::strcmp(name + n - 3, "_pf") == 0;
}

std::string missing_spirv_capability(VkPhysicalDevice pd) {
  VkPhysicalDeviceFeatures f{};
  vkGetPhysicalDeviceFeatures(pd, &f);
  for (const auto& m : spirv::kModules) {
    if (is_coopmat_module(m.name)) continue;  // optional: checked by coopmat_missing()
    if (is_profile_module(m.name)) continue;  // optional: checked when MLA_VULKAN_CM_PROFILE asks for it
    for (uint32_t c : capabilities(m)) {
      const std::string where = std::string(" (SPIR-V capability ") + std::to_string(c) + " of shader " + m.name + ")";
      switch (c) {
        case kCapShader: break;
        case kCapFloat64:
          if (!f.shaderFloat64) return "missing feature shaderFloat64" + where;
          break;
        case kCapInt64:
          if (!f.shaderInt64) return "missing feature shaderInt64" + where;
          break;
        case kCapInt16:
          if (!f.shaderInt16) return "missing feature shaderInt16" + where;
          break;
        default:
          return "the library does not know which device feature provides SPIR-V capability " + std::to_string(c) +
                 " of shader " + m.name + "; add it to spirv_caps.cpp";
      }
    }
  }
  return "";
}

VkPhysicalDeviceFeatures spirv_required_features() {
  VkPhysicalDeviceFeatures f{};
  for (const auto& m : spirv::kModules)
    for (uint32_t c : capabilities(m)) {
      if (is_coopmat_module(m.name) || is_profile_module(m.name)) break;
      if (c == kCapFloat64) f.shaderFloat64 = VK_TRUE;
      if (c == kCapInt64) f.shaderInt64 = VK_TRUE;
      if (c == kCapInt16) f.shaderInt16 = VK_TRUE;
    }
  return f;
}

}  // namespace mla::vulkan_impl
