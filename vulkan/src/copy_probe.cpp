// Context::copy_bandwidth: the device-copy yardstick of the bench, measured
// with a compute-shader copy (copy.comp) between two device-local buffers
// and timestamp queries, in the same context the decode runs in.
#include <algorithm>
#include <limits>
#include <vector>

#include "context_impl.h"
#include "shader_interface.h"
#include "vk_check.h"
#include "vk_struct.h"

namespace mla::vulkan {

using vulkan_impl::Buffer;
using vulkan_impl::vk_struct;

Status Context::copy_bandwidth(VkDeviceSize bytes, int reps, double* gb_per_s, VkDeviceSize* bytes_copied) {
  Impl& c = *impl_;
  if (!gb_per_s || reps < 1) return invalid_argument("copy_bandwidth: gb_per_s must be non-null and reps >= 1");
  if (!c.timestamps) return Status(StatusCode::unsupported, "the queue has no timestamps; no bandwidth to measure");
  bytes = std::min<VkDeviceSize>(bytes, c.phys.props.limits.maxStorageBufferRange) / 16 * 16;
  bytes = std::min<VkDeviceSize>(bytes, VkDeviceSize(std::numeric_limits<int32_t>::max()) * 16);
  if (bytes == 0) return invalid_argument("copy_bandwidth: bytes must be at least 16");
  Buffer src, dst;
  const VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  MLA_RETURN_IF_ERROR(Buffer::create(c.device, c.memory_props, bytes, usage, false, &src));
  MLA_RETURN_IF_ERROR(Buffer::create(c.device, c.memory_props, bytes, usage, false, &dst));

  VkDescriptorBufferInfo infos[2] = {{src.handle(), 0, bytes}, {dst.handle(), 0, bytes}};
  VkWriteDescriptorSet writes[2];
  for (int i = 0; i < 2; ++i) {
    writes[i] = vk_struct<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
    writes[i].dstBinding = i == 0 ? MLA_VK_BIND_Q : MLA_VK_BIND_OUT;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vulkan_impl::PushConstants push{};
  push.copy_vec4 = int32_t(bytes / 16);
  const uint32_t groups = uint32_t(std::min<VkDeviceSize>((bytes / 16 + MLA_VK_COPY_THREADS - 1) / MLA_VK_COPY_THREADS,
                                                          VkDeviceSize(c.phys.compute_units) * 64));

  auto ai = vk_struct<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  ai.commandPool = c.command_pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  std::vector<double> ms;
  for (int rep = 0; rep <= reps; ++rep) {  // rep 0 warms up and is not counted
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    MLA_VK_CHECK(vkAllocateCommandBuffers(c.device, &ai, &cmd));
    auto bi = vk_struct<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VkResult r = vkBeginCommandBuffer(cmd, &bi);
    if (r == VK_SUCCESS) {
      if (rep == 0) {
        vkCmdFillBuffer(cmd, src.handle(), 0, bytes, 0x3F803F80u);
        auto mb = vk_struct<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
        mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
        mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
        vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0,
                             nullptr, 0, nullptr);
      }
      vkCmdResetQueryPool(cmd, c.timestamps, 0, 2);
      vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c.timestamps, 0);
      vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, c.pipelines.copy);
      c.push_descriptor_set(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, c.pipelines.layout, 0, 2, writes);
      vkCmdPushConstants(cmd, c.pipelines.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(push), &push);
      vkCmdDispatch(cmd, groups, 1, 1);
      vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c.timestamps, 1);
      r = vkEndCommandBuffer(cmd);
    }
    if (r == VK_SUCCESS) {
      auto si = vk_struct<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
      si.commandBufferCount = 1;
      si.pCommandBuffers = &cmd;
      r = vkResetFences(c.device, 1, &c.fence);
      if (r == VK_SUCCESS) r = vkQueueSubmit(c.queue, 1, &si, c.fence);
      if (r == VK_SUCCESS) r = vkWaitForFences(c.device, 1, &c.fence, VK_TRUE, 60ull * 1000 * 1000 * 1000);
    }
    vkFreeCommandBuffers(c.device, c.command_pool, 1, &cmd);
    if (r != VK_SUCCESS) return vulkan_impl::vk_error(r, "copy_bandwidth: recording or submitting the copy");
    uint64_t t[2] = {0, 0};
    MLA_VK_CHECK(vkGetQueryPoolResults(c.device, c.timestamps, 0, 2, sizeof(t), t, sizeof(uint64_t),
                                       VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    if (rep > 0) ms.push_back(double(t[1] - t[0]) * c.phys.props.limits.timestampPeriod * 1e-6);
  }
  std::sort(ms.begin(), ms.end());
  *gb_per_s = 2.0 * double(bytes) / (ms[ms.size() / 2] * 1e6);  // bytes read + bytes written
  if (bytes_copied) *bytes_copied = bytes;
  return Status::Ok();
}

}  // namespace mla::vulkan
