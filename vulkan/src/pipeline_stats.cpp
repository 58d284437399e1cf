// The driver's pipeline statistics (pipeline_stats.h).
#include "pipeline_stats.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "vk_struct.h"

namespace mla::vulkan_impl {

bool pipeline_stats_requested() {
  const char* v = std::getenv("MLA_VULKAN_PIPELINE_STATS");
  return v && *v && std::strcmp(v, "0") != 0;
}

void print_pipeline_statistics(VkDevice device, VkPipeline pipeline, const char* name) {
  const auto get_props = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
      vkGetDeviceProcAddr(device, "vkGetPipelineExecutablePropertiesKHR"));
  const auto get_stats = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
      vkGetDeviceProcAddr(device, "vkGetPipelineExecutableStatisticsKHR"));
  if (!get_props || !get_stats) return;
  auto pi = vk_struct<VkPipelineInfoKHR>(VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR);
  pi.pipeline = pipeline;
  uint32_t n = 0;
  if (get_props(device, &pi, &n, nullptr) != VK_SUCCESS) return;
  std::vector<VkPipelineExecutablePropertiesKHR> props(
      n, vk_struct<VkPipelineExecutablePropertiesKHR>(VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR));
  if (get_props(device, &pi, &n, props.data()) != VK_SUCCESS) return;
  for (uint32_t e = 0; e < n; ++e) {
    auto ei = vk_struct<VkPipelineExecutableInfoKHR>(VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR);
    ei.pipeline = pipeline;
    ei.executableIndex = e;
    uint32_t m = 0;
    if (get_stats(device, &ei, &m, nullptr) != VK_SUCCESS) continue;
    std::vector<VkPipelineExecutableStatisticKHR> stats(
        m, vk_struct<VkPipelineExecutableStatisticKHR>(VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR));
    if (get_stats(device, &ei, &m, stats.data()) != VK_SUCCESS) continue;
    for (const auto& s : stats) {
      std::fprintf(stderr, "mla vulkan pipeline %s [%s]: %s = ", name, props[e].name, s.name);
      switch (s.format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
          std::fprintf(stderr, "%s\n", s.value.b32 ? "true" : "false");
          break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
          std::fprintf(stderr, "%" PRId64 "\n", s.value.i64);
          break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
          std::fprintf(stderr, "%" PRIu64 "\n", s.value.u64);
          break;
        default:
          std::fprintf(stderr, "%g\n", s.value.f64);
          break;
      }
    }
  }
}

}  // namespace mla::vulkan_impl
