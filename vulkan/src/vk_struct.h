// vk_struct.h - a zeroed Vulkan structure with its sType set (brace-initialising
// only sType trips -Wmissing-field-initializers).
#pragma once

#include <vulkan/vulkan.h>

namespace mla::vulkan_impl {

template <class T>
T vk_struct(VkStructureType type) {
  T s{};
  s.sType = type;
  return s;
}

}  // namespace mla::vulkan_impl
