// Context::decode_host and Context::time_decode_host: the host-memory API on
// top of record_passes(). Inputs are packed into one staging buffer and
// copied to device-local buffers; results come back through one readback
// buffer. time_decode_host then decodes again and again on the resident inputs.
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "context_impl.h"
#include "mla/validate.h"
#include "record.h"
#include "vk_check.h"
#include "vk_struct.h"

namespace mla::vulkan {

using Impl = Context::Impl;
using vulkan_impl::Buffer;
using vulkan_impl::vk_struct;

namespace {

constexpr uint64_t kFenceTimeoutNs = 600ull * 1000 * 1000 * 1000;  // a decode never takes 10 minutes
constexpr int kMaxTimedReps = 10000;                                // time_decode_host's bounds
constexpr double kMaxWarmupMs = 600.0 * 1000;

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

// A host problem on the device: one device-local buffer per array it has
// (db, what record_passes() binds), the staging buffer holding the packed
// inputs and the readback buffer out / lse / status come back through.
// Stays where it is built: the parts point into db.
struct HostProblemBuffers {
  HostProblemBuffers() = default;
  HostProblemBuffers(const HostProblemBuffers&) = delete;
  HostProblemBuffers& operator=(const HostProblemBuffers&) = delete;

  DeviceBuffers db;
  std::vector<Part> inputs;
  std::vector<Buffer> owned;
  Buffer staging, readback;
  VkDeviceSize out_bytes = 0, lse_bytes = 0, status_bytes = 0;
  VkDeviceSize rb_lse = 0, rb_status = 0;  // offsets in readback (out at 0)
};

void transfer_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags src_access,
                      VkPipelineStageFlags dst, VkAccessFlags dst_access) {
  auto mb = vk_struct<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = src_access;
  mb.dstAccessMask = dst_access;
  vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

// Creates b's buffers for a validated problem with batch > 0 and packs the inputs into staging.
Status create_buffers(Impl& c, const ProblemDesc& d, const ProblemData& host, HostProblemBuffers* b) {
  vulkan_impl::WorkspaceLayout w;
  MLA_RETURN_IF_ERROR(vulkan_impl::plan_workspace(c, d, &w));
  const VkDeviceSize ws_bytes = w.total;

  const bool fp8_q = d.q_format == RowFormat::fp8_rope640, fp8_kv = d.kv_format == RowFormat::fp8_rope640;
  DeviceBuffers& db = b->db;
  b->inputs = {
      {host.q, VkDeviceSize(q_elems_bytes(d)), &db.q},
      {host.q_scales, fp8_q ? VkDeviceSize(d.total_q) * 4 : 0, &db.q_scales},
      {host.kv_pool, VkDeviceSize(kv_pool_bytes(d)), &db.kv_pool},
      {host.kv_scales, fp8_kv ? VkDeviceSize(kv_scales_count(d)) * 4 : 0, &db.kv_scales},
      {host.page_table, VkDeviceSize(page_table_count(d)) * 4, &db.page_table},
      {host.q_offsets, VkDeviceSize(d.batch + 1) * 4, &db.q_offsets},
      {host.kv_lens, VkDeviceSize(d.batch) * 4, &db.kv_lens},
  };
  b->out_bytes = VkDeviceSize(out_count(d)) * 2;
  b->lse_bytes = VkDeviceSize(lse_count(d)) * 4;
  b->status_bytes = VkDeviceSize(d.batch + 1) * 4;

  // Device buffers: one per array the problem has.
  std::vector<Buffer>& owned = b->owned;
  owned.reserve(b->inputs.size() + 4);
  const VkBufferUsageFlags storage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  auto make = [&](VkDeviceSize bytes, VkBufferUsageFlags usage, BufferRange* range) -> Status {
    if (bytes == 0) return Status::Ok();
    owned.emplace_back();
    MLA_RETURN_IF_ERROR(Buffer::create(c.device, c.memory_props, bytes, usage, false, &owned.back()));
    *range = BufferRange{owned.back().handle(), 0, owned.back().size()};
    return Status::Ok();
  };
  VkDeviceSize staging_bytes = 0;
  for (Part& p : b->inputs) {
    MLA_RETURN_IF_ERROR(make(p.bytes, storage | VK_BUFFER_USAGE_TRANSFER_DST_BIT, p.device_range));
    p.staging_offset = staging_bytes;
    staging_bytes += (p.bytes + 15) / 16 * 16;
  }
  const VkBufferUsageFlags result_usage = storage | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  MLA_RETURN_IF_ERROR(make(b->out_bytes, result_usage, &db.out));
  MLA_RETURN_IF_ERROR(make(b->lse_bytes, result_usage, &db.lse));
  MLA_RETURN_IF_ERROR(make(b->status_bytes, result_usage | VK_BUFFER_USAGE_TRANSFER_DST_BIT, &db.status));
  MLA_RETURN_IF_ERROR(make(ws_bytes, storage | VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT, &db.workspace));

  MLA_RETURN_IF_ERROR(
      Buffer::create(c.device, c.memory_props, staging_bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, true, &b->staging));
  b->rb_lse = (b->out_bytes + 15) / 16 * 16;
  b->rb_status = b->rb_lse + (b->lse_bytes + 15) / 16 * 16;
  MLA_RETURN_IF_ERROR(Buffer::create(c.device, c.memory_props, b->rb_status + b->status_bytes,
                                     VK_BUFFER_USAGE_TRANSFER_DST_BIT, true, &b->readback));
  for (const Part& p : b->inputs)
    if (p.bytes) std::memcpy(static_cast<uint8_t*>(b->staging.mapped()) + p.staging_offset, p.host, p.bytes);
  return Status::Ok();
}

// Allocates cb's command buffer from the context's pool and begins it.
Status begin_commands(Impl& c, VkCommandBufferUsageFlags flags, CommandBuffer* cb) {
  auto ai = vk_struct<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  ai.commandPool = c.command_pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  MLA_VK_CHECK(vkAllocateCommandBuffers(c.device, &ai, &cb->cmd));
  auto bi = vk_struct<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  bi.flags = flags;
  MLA_VK_CHECK(vkBeginCommandBuffer(cb->cmd, &bi));
  return Status::Ok();
}

// Submits cmd alone and waits for it (the device is idle again when this fails on a timeout).
Status submit_and_wait(Impl& c, VkCommandBuffer cmd) {
  auto si = vk_struct<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd;
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
  return Status::Ok();
}

// The GPU time between the context's two timestamp queries of the last
// finished decode, milliseconds; NaN when the queue has no timestamps.
Status read_kernel_ms(Impl& c, double* ms) {
  *ms = std::numeric_limits<double>::quiet_NaN();
  if (!c.timestamps) return Status::Ok();
  uint64_t t[2] = {0, 0};
  MLA_VK_CHECK(vkGetQueryPoolResults(c.device, c.timestamps, 0, 2, sizeof(t), t, sizeof(uint64_t),
                                     VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  const uint64_t mask = c.phys.timestamp_bits >= 64 ? ~0ull : ((1ull << c.phys.timestamp_bits) - 1);
  const uint64_t ticks = ((t[1] & mask) - (t[0] & mask)) & mask;
  *ms = double(ticks) * c.phys.props.limits.timestampPeriod * 1e-6;
  return Status::Ok();
}

// What decode_host does for a validated problem with batch > 0: builds b,
// uploads, runs one decode (timestamps around its passes), waits and copies
// out / lse / the status word (optional) to the host.
Status upload_and_decode(Impl& c, const ProblemDesc& d, const ProblemData& host, HostProblemBuffers* b,
                         uint16_t* out_bf16, float* lse, uint32_t* status_word) {
  MLA_RETURN_IF_ERROR(create_buffers(c, d, host, b));
  CommandBuffer cb{c.device, c.command_pool};
  MLA_RETURN_IF_ERROR(begin_commands(c, VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT, &cb));
  for (const Part& p : b->inputs)
    if (p.bytes) {
      const VkBufferCopy region{p.staging_offset, 0, p.bytes};
      vkCmdCopyBuffer(cb.cmd, b->staging.handle(), p.device_range->buffer, 1, &region);
    }
  // record_passes() starts with a barrier from transfer writes.
  MLA_RETURN_IF_ERROR(vulkan_impl::record_passes(c, cb.cmd, d, b->db, c.timestamps));
  transfer_barrier(cb.cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_TRANSFER_READ_BIT);
  const struct {
    const BufferRange* from;
    VkDeviceSize to, bytes;
  } results[] = {{&b->db.out, 0, b->out_bytes},
                 {&b->db.lse, b->rb_lse, b->lse_bytes},
                 {&b->db.status, b->rb_status, b->status_bytes}};
  for (const auto& r : results)
    if (r.bytes) {
      const VkBufferCopy region{0, r.to, r.bytes};
      vkCmdCopyBuffer(cb.cmd, r.from->buffer, b->readback.handle(), 1, &region);
    }
  transfer_barrier(cb.cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                   VK_ACCESS_HOST_READ_BIT);
  MLA_VK_CHECK(vkEndCommandBuffer(cb.cmd));
  MLA_RETURN_IF_ERROR(submit_and_wait(c, cb.cmd));

  const uint8_t* rb = static_cast<const uint8_t*>(b->readback.mapped());
  if (b->out_bytes) std::memcpy(out_bf16, rb, b->out_bytes);
  if (b->lse_bytes) std::memcpy(lse, rb + b->rb_lse, b->lse_bytes);
  if (status_word) std::memcpy(status_word, rb + b->rb_status, 4);
  return Status::Ok();
}

std::string number_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

Status Context::decode_host(const ProblemDesc& d, const ProblemData& host, uint16_t* out_bf16, float* lse,
                            uint32_t* status_word, double* kernel_ms) {
  MLA_RETURN_IF_ERROR(validate_host_problem(d, host, out_bf16, lse));
  if (status_word) *status_word = 0;
  if (kernel_ms) *kernel_ms = 0;
  if (d.batch == 0) return Status::Ok();
  HostProblemBuffers b;
  MLA_RETURN_IF_ERROR(upload_and_decode(*impl_, d, host, &b, out_bf16, lse, status_word));
  return kernel_ms ? read_kernel_ms(*impl_, kernel_ms) : Status::Ok();
}

Status Context::time_decode_host(const ProblemDesc& d, const ProblemData& host, double warmup_ms, int reps,
                                 std::vector<double>* ms, uint16_t* out_bf16, float* lse, uint32_t* status_word) {
  if (!ms) return invalid_argument("ms = null (time_decode_host writes the reps times there)");
  if (reps < 1 || reps > kMaxTimedReps)
    return invalid_argument("reps = " + std::to_string(reps) + " is out of range [1, " + std::to_string(kMaxTimedReps) +
                            "]");
  if (!(warmup_ms >= 0 && warmup_ms <= kMaxWarmupMs))
    return invalid_argument("warmup_ms = " + number_text(warmup_ms) + " is out of range [0, " +
                            number_text(kMaxWarmupMs) + "]");
  MLA_RETURN_IF_ERROR(validate_host_problem(d, host, out_bf16, lse));
  ms->clear();
  if (status_word) *status_word = 0;
  if (d.batch == 0) return ms->assign(size_t(reps), 0.0), Status::Ok();
  Impl& c = *impl_;
  HostProblemBuffers b;
  MLA_RETURN_IF_ERROR(upload_and_decode(c, d, host, &b, out_bf16, lse, status_word));

  // The passes alone on the resident buffers: recorded once, submitted once
  // per decode (the fence wait between two submissions keeps the context's
  // two timestamp queries apart; record_passes' leading barrier orders a
  // decode's workspace writes after the previous one's).
  CommandBuffer cb{c.device, c.command_pool};
  MLA_RETURN_IF_ERROR(begin_commands(c, 0, &cb));
  MLA_RETURN_IF_ERROR(vulkan_impl::record_passes(c, cb.cmd, d, b.db, c.timestamps));
  MLA_VK_CHECK(vkEndCommandBuffer(cb.cmd));
  const auto t0 = std::chrono::steady_clock::now();
  do {
    MLA_RETURN_IF_ERROR(submit_and_wait(c, cb.cmd));
  } while (std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() < warmup_ms);
  ms->reserve(size_t(reps));
  for (int i = 0; i < reps; ++i) {
    double t = 0;
    MLA_RETURN_IF_ERROR(submit_and_wait(c, cb.cmd));
    MLA_RETURN_IF_ERROR(read_kernel_ms(c, &t));
    ms->push_back(t);
  }
  return Status::Ok();
}

}  // namespace mla::vulkan
