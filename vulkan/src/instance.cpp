// Instance creation; the validation layer and its message counter.
#include "instance.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "vk_check.h"
#include "vk_struct.h"

namespace mla::vulkan_impl {

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                          VkDebugUtilsMessageTypeFlagsEXT type,
                                          const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  // Loader chatter (GENERAL) is printed but not counted: only what the layer
  // says about our use of the API fails a test.
  const bool counted = (type & (VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                                VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT)) != 0;
  if (counted) static_cast<std::atomic<uint64_t>*>(user)->fetch_add(1);
  std::fprintf(stderr, "[vulkan %s%s] %s\n",
               severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning",
               counted ? "" : ", not counted", data && data->pMessage ? data->pMessage : "");
  return VK_FALSE;
}

bool has_layer(const char* name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, nullptr) != VK_SUCCESS) return false;
  std::vector<VkLayerProperties> layers(n);
  if (vkEnumerateInstanceLayerProperties(&n, layers.data()) != VK_SUCCESS) return false;
  for (const auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return true;
  return false;
}

bool has_extension(const std::vector<VkExtensionProperties>& exts, const char* name) {
  for (const auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

}  // namespace

bool validation_requested_by_env() {
  const char* v = std::getenv("MLA_VULKAN_VALIDATION");
  return v && *v && std::strcmp(v, "0") != 0;
}

Status create_instance(bool validation, std::atomic<uint64_t>* counter, Instance* out) {
  uint32_t version = VK_API_VERSION_1_0;
  auto enumerate_version =
      reinterpret_cast<PFN_vkEnumerateInstanceVersion>(vkGetInstanceProcAddr(nullptr, "vkEnumerateInstanceVersion"));
  if (enumerate_version) MLA_VK_CHECK(enumerate_version(&version));
  if (version < VK_API_VERSION_1_1)
    return Status(StatusCode::not_available, "the Vulkan loader supports only Vulkan " +
                                                 std::to_string(VK_API_VERSION_MAJOR(version)) + "." +
                                                 std::to_string(VK_API_VERSION_MINOR(version)) + "; 1.1 is required");

  uint32_t n = 0;
  MLA_VK_CHECK(vkEnumerateInstanceExtensionProperties(nullptr, &n, nullptr));
  std::vector<VkExtensionProperties> exts(n);
  MLA_VK_CHECK(vkEnumerateInstanceExtensionProperties(nullptr, &n, exts.data()));

  std::vector<const char*> layers, extensions;
  if (validation) {
    if (!has_layer(kValidationLayer))
      return Status(StatusCode::not_available,
                    "validation was requested (MLA_VULKAN_VALIDATION or Options::validation) but "
                    "VK_LAYER_KHRONOS_validation is not installed (Debian: vulkan-validationlayers)");
    layers.push_back(kValidationLayer);
    if (!has_extension(exts, VK_EXT_DEBUG_UTILS_EXTENSION_NAME))
      return Status(StatusCode::not_available, "validation needs VK_EXT_debug_utils, which the loader lacks");
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  VkInstanceCreateFlags flags = 0;
  if (has_extension(exts, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    extensions.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    out->portability = true;
  }

  auto app = vk_struct<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
  app.pApplicationName = "mla";
  app.pEngineName = "mla";
  app.apiVersion = VK_API_VERSION_1_1;

  auto messenger_info = vk_struct<VkDebugUtilsMessengerCreateInfoEXT>(VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT);
  messenger_info.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  messenger_info.pfnUserCallback = on_message;
  messenger_info.pUserData = counter;

  auto info = vk_struct<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
  info.flags = flags;
  info.pApplicationInfo = &app;
  info.enabledLayerCount = uint32_t(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = uint32_t(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  if (validation) info.pNext = &messenger_info;  // also covers vkCreateInstance / vkDestroyInstance
  MLA_VK_CHECK(vkCreateInstance(&info, nullptr, &out->instance));

  if (validation) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(out->instance, "vkCreateDebugUtilsMessengerEXT"));
    if (!create) {
      destroy_instance(out);
      return Status(StatusCode::device_error, "vkCreateDebugUtilsMessengerEXT is missing");
    }
    const VkResult r = create(out->instance, &messenger_info, nullptr, &out->messenger);
    if (r != VK_SUCCESS) {
      destroy_instance(out);
      return vk_error(r, "vkCreateDebugUtilsMessengerEXT");
    }
  }
  return Status::Ok();
}

void destroy_instance(Instance* inst) {
  if (inst->messenger != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(inst->instance, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(inst->instance, inst->messenger, nullptr);
    inst->messenger = VK_NULL_HANDLE;
  }
  if (inst->instance != VK_NULL_HANDLE) vkDestroyInstance(inst->instance, nullptr);
  inst->instance = VK_NULL_HANDLE;
}

}  // namespace mla::vulkan_impl
