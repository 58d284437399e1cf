// Context::decode_host: the host-memory API on top of record_passes().
// Inputs are packed into one staging buffer and copied to device-local
// buffers; results come back through one readback buffer.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "context_impl.h"
#include "mla/validate.h"
#include "record.h"
#include "vk_check.h"
#include "vk_struct.h"

namespace mla::vulkan {

using vulkan_impl::Buffer;
using vulkan_impl::vk_struct;

namespace {

constexpr uint64_t kFenceTimeoutNs = 600ull * 1000 * 1000 * 1000;  // a decode never takes 10 minutes

// One array of a host problem: where it comes from, where it lands in the staging buffer.
struct Part {
  const void* host;
  VkDeviceSize bytes;
  BufferRange* device_range;
  VkDeviceSize staging_offset = 0;
};

// Allocates and frees the command buffer of one call.
struct CommandBuffer {
  VkDevice device;
  VkCommandPool pool;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  ~CommandBuffer() {
    if (cmd) vkFreeCommandBuffers(device, pool, 1, &cmd);
  }
};

void transfer_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags src_access,
                      VkPipelineStageFlags dst, VkAccessFlags dst_access) {
  auto mb = vk_struct<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = src_access;
  mb.dstAccessMask = dst_access;
  vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

}  // namespace

Status Context::decode_host(const ProblemDesc& d, const ProblemData& host, uint16_t* out_bf16, float* lse,
                            uint32_t* status_word, double* kernel_ms) {
  MLA_RETURN_IF_ERROR(validate_host_problem(d, host, out_bf16, lse));
  if (status_word) *status_word = 0;
  if (kernel_ms) *kernel_ms = 0;
  if (d.batch == 0) return Status::Ok();
  Impl& c = *impl_;
  VkDeviceSize ws_bytes = 0;
  MLA_RETURN_IF_ERROR(workspace_bytes(d, &ws_bytes));

  const bool fp8_q = d.q_format == RowFormat::fp8_rope640, fp8_kv = d.kv_format == RowFormat::fp8_rope640;
  DeviceBuffers db;
  std::vector<Part> inputs = {
      {host.q, VkDeviceSize(q_elems_bytes(d)), &db.q},
      {host.q_scales, fp8_q ? VkDeviceSize(d.total_q) * 4 : 0, &db.q_scales},
      {host.kv_pool, VkDeviceSize(kv_pool_bytes(d)), &db.kv_pool},
      {host.kv_scales, fp8_kv ? VkDeviceSize(kv_scales_count(d)) * 4 : 0, &db.kv_scales},
      {host.page_table, VkDeviceSize(page_table_count(d)) * 4, &db.page_table},
      {host.q_offsets, VkDeviceSize(d.batch + 1) * 4, &db.q_offsets},
      {host.kv_lens, VkDeviceSize(d.batch) * 4, &db.kv_lens},
  };
  const VkDeviceSize out_bytes = VkDeviceSize(out_count(d)) * 2, lse_bytes = VkDeviceSize(lse_count(d)) * 4,
                     status_bytes = VkDeviceSize(d.batch + 1) * 4;

  // Device buffers: one per array the problem has.
  std::vector<Buffer> owned;
  owned.reserve(inputs.size() + 4);
  const VkBufferUsageFlags storage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  auto make = [&](VkDeviceSize bytes, VkBufferUsageFlags usage, BufferRange* range) -> Status {
    if (bytes == 0) return Status::Ok();
    owned.emplace_back();
    MLA_RETURN_IF_ERROR(Buffer::create(c.device, c.memory_props, bytes, usage, false, &owned.back()));
    *range = BufferRange{owned.back().handle(), 0, owned.back().size()};
    return Status::Ok();
  };
  VkDeviceSize staging_bytes = 0;
  for (Part& p : inputs) {
    MLA_RETURN_IF_ERROR(make(p.bytes, storage | VK_BUFFER_USAGE_TRANSFER_DST_BIT, p.device_range));
    p.staging_offset = staging_bytes;
    staging_bytes += (p.bytes + 15) / 16 * 16;
  }
  const VkBufferUsageFlags result_usage = storage | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  MLA_RETURN_IF_ERROR(make(out_bytes, result_usage, &db.out));
  MLA_RETURN_IF_ERROR(make(lse_bytes, result_usage, &db.lse));
  MLA_RETURN_IF_ERROR(make(status_bytes, result_usage | VK_BUFFER_USAGE_TRANSFER_DST_BIT, &db.status));
  MLA_RETURN_IF_ERROR(make(ws_bytes, storage | VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT, &db.workspace));

  Buffer staging, readback;
  MLA_RETURN_IF_ERROR(
      Buffer::create(c.device, c.memory_props, staging_bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, true, &staging));
  const VkDeviceSize rb_lse = (out_bytes + 15) / 16 * 16, rb_status = rb_lse + (lse_bytes + 15) / 16 * 16;
  MLA_RETURN_IF_ERROR(Buffer::create(c.device, c.memory_props, rb_status + status_bytes,
                                     VK_BUFFER_USAGE_TRANSFER_DST_BIT, true, &readback));
  for (const Part& p : inputs)
    if (p.bytes) std::memcpy(static_cast<uint8_t*>(staging.mapped()) + p.staging_offset, p.host, p.bytes);

  CommandBuffer cb{c.device, c.command_pool};
  auto ai = vk_struct<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  ai.commandPool = c.command_pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  MLA_VK_CHECK(vkAllocateCommandBuffers(c.device, &ai, &cb.cmd));
  auto bi = vk_struct<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  MLA_VK_CHECK(vkBeginCommandBuffer(cb.cmd, &bi));
  for (const Part& p : inputs)
    if (p.bytes) {
      const VkBufferCopy region{p.staging_offset, 0, p.bytes};
      vkCmdCopyBuffer(cb.cmd, staging.handle(), p.device_range->buffer, 1, &region);
    }
  // record_passes() starts with a barrier from transfer writes.
  MLA_RETURN_IF_ERROR(vulkan_impl::record_passes(c, cb.cmd, d, db, c.timestamps));
  transfer_barrier(cb.cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_TRANSFER_READ_BIT);
  const struct {
    BufferRange* from;
    VkDeviceSize to, bytes;
  } results[] = {{&db.out, 0, out_bytes}, {&db.lse, rb_lse, lse_bytes}, {&db.status, rb_status, status_bytes}};
  for (const auto& r : results)
    if (r.bytes) {
      const VkBufferCopy region{0, r.to, r.bytes};
      vkCmdCopyBuffer(cb.cmd, r.from->buffer, readback.handle(), 1, &region);
    }
  transfer_barrier(cb.cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                   VK_ACCESS_HOST_READ_BIT);
  MLA_VK_CHECK(vkEndCommandBuffer(cb.cmd));

  auto si = vk_struct<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb.cmd;
  MLA_VK_CHECK(vkResetFences(c.device, 1, &c.fence));
  MLA_VK_CHECK(vkQueueSubmit(c.queue, 1, &si, c.fence));
  const VkResult waited = vkWaitForFences(c.device, 1, &c.fence, VK_TRUE, kFenceTimeoutNs);
  if (waited == VK_TIMEOUT) {
    // The buffers must outlive the work: wait for the device before they are freed.
    const VkResult idle = vkDeviceWaitIdle(c.device);
    return Status(StatusCode::device_error, std::string("the decode did not finish within 600 s (vkWaitForFences "
                                                        "timed out; vkDeviceWaitIdle then returned ") +
                                                vulkan_impl::vk_result_name(idle) + ")");
  }
  if (waited != VK_SUCCESS) return vulkan_impl::vk_error(waited, "vkWaitForFences");

  const uint8_t* rb = static_cast<const uint8_t*>(readback.mapped());
  if (out_bytes) std::memcpy(out_bf16, rb, out_bytes);
  if (lse_bytes) std::memcpy(lse, rb + rb_lse, lse_bytes);
  if (status_word) std::memcpy(status_word, rb + rb_status, 4);

  if (kernel_ms) {
    *kernel_ms = std::numeric_limits<double>::quiet_NaN();
    if (c.timestamps) {
      uint64_t t[2] = {0, 0};
      MLA_VK_CHECK(vkGetQueryPoolResults(c.device, c.timestamps, 0, 2, sizeof(t), t, sizeof(uint64_t),
                                         VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
      const uint64_t mask = c.phys.timestamp_bits >= 64 ? ~0ull : ((1ull << c.phys.timestamp_bits) - 1);
      const uint64_t ticks = ((t[1] & mask) - (t[0] & mask)) & mask;
      *kernel_ms = double(ticks) * c.phys.props.limits.timestampPeriod * 1e-6;
    }
  }
  return Status::Ok();
}

}  // namespace mla::vulkan
