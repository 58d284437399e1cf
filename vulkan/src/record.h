// record.h - the passes of one decode, recorded into a command buffer (the
// core of both APIs), and the workspace they need.
//
//   fill status -> pages (page ids) -> plan (metadata checks, partitions,
//   prefix sums, dispatch sizes) -> decode (indirect) -> combine (indirect)
#pragma once

#include <vulkan/vulkan.h>

#include "context_impl.h"
#include "mla/status.h"
#include "mla/types.h"
#include "shader_interface.h"

namespace mla::vulkan_impl {

// Shape-level choices for a problem and where they put things in the workspace.
struct WorkspaceLayout {
  const DecodeVariant* variant = nullptr;
  int32_t split_mode = MLA_VK_SPLIT_AUTO;
  int32_t split_count = 1;  // explicit n, or the automatic per-request cap
  int32_t split_slots = 1;  // partial slots per output row: a bound on any request's partitions
  VkDeviceSize meta_bytes = 0;
  VkDeviceSize part_lse_offset = 0, part_lse_bytes = 0;
  VkDeviceSize part_out_offset = 0, part_out_bytes = 0;
  VkDeviceSize total = 0;
};

// Validates desc (validate_desc) and lays out the workspace.
Status plan_workspace(const mla::vulkan::Context::Impl& ctx, const ProblemDesc& desc, WorkspaceLayout* out);

// Records the decode. timestamps (may be VK_NULL_HANDLE): queries 0 and 1
// bracket the passes. Checks the buffers against desc first.
Status record_passes(mla::vulkan::Context::Impl& ctx, VkCommandBuffer cmd, const ProblemDesc& desc,
                     const mla::vulkan::DeviceBuffers& buffers, VkQueryPool timestamps);

}  // namespace mla::vulkan_impl
