// VkResult names and the Status of a failed call.
#include "vk_check.h"

#include <string>

namespace mla::vulkan_impl {

const char* vk_result_name(VkResult r) {
  switch (r) {
#define MLA_VK_NAME(x) \
  case x: return #x;
    MLA_VK_NAME(VK_SUCCESS)
    MLA_VK_NAME(VK_NOT_READY)
    MLA_VK_NAME(VK_TIMEOUT)
    MLA_VK_NAME(VK_INCOMPLETE)
    MLA_VK_NAME(VK_ERROR_OUT_OF_HOST_MEMORY)
    MLA_VK_NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    MLA_VK_NAME(VK_ERROR_INITIALIZATION_FAILED)
    MLA_VK_NAME(VK_ERROR_DEVICE_LOST)
    MLA_VK_NAME(VK_ERROR_MEMORY_MAP_FAILED)
    MLA_VK_NAME(VK_ERROR_LAYER_NOT_PRESENT)
    MLA_VK_NAME(VK_ERROR_EXTENSION_NOT_PRESENT)
    MLA_VK_NAME(VK_ERROR_FEATURE_NOT_PRESENT)
    MLA_VK_NAME(VK_ERROR_INCOMPATIBLE_DRIVER)
    MLA_VK_NAME(VK_ERROR_TOO_MANY_OBJECTS)
    MLA_VK_NAME(VK_ERROR_FORMAT_NOT_SUPPORTED)
    MLA_VK_NAME(VK_ERROR_FRAGMENTED_POOL)
    MLA_VK_NAME(VK_ERROR_OUT_OF_POOL_MEMORY)
    MLA_VK_NAME(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    MLA_VK_NAME(VK_ERROR_UNKNOWN)
#undef MLA_VK_NAME
    default: {
      thread_local std::string s;
      s = "VkResult(" + std::to_string(int(r)) + ")";
      return s.c_str();
    }
  }
}

Status vk_error(VkResult r, const char* call) {
  const StatusCode code = (r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
                              ? StatusCode::out_of_memory
                              : StatusCode::device_error;
  return Status(code, std::string(call) + " failed: " + vk_result_name(r));
}

}  // namespace mla::vulkan_impl
