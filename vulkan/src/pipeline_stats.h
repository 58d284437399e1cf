// pipeline_stats.h - the driver's own statistics of each compute pipeline
// (VK_KHR_pipeline_executable_properties: registers, spills, shared memory,
// instruction counts, as the driver names them), printed to stderr when
// MLA_VULKAN_PIPELINE_STATS is set. A diagnostic for tuning the shaders on a
// real driver: whether a decode variant spills or runs out of registers shows
// here and nowhere else.
#pragma once

#include <vulkan/vulkan.h>

namespace mla::vulkan_impl {

// MLA_VULKAN_PIPELINE_STATS set (and not "0").
bool pipeline_stats_requested();

// Prints "mla vulkan pipeline <name> [<executable>]: <statistic> = <value>"
// lines; silent when the device did not enable the extension's feature.
void print_pipeline_statistics(VkDevice device, VkPipeline pipeline, const char* name);

}  // namespace mla::vulkan_impl
