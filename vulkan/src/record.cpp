// Workspace layout, buffer checks, push descriptors, barriers, dispatches.
#include "record.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "mla/validate.h"
#include "vk_check.h"
#include "vk_struct.h"

namespace mla::vulkan_impl {

using mla::vulkan::BufferRange;
using mla::vulkan::DeviceBuffers;
using Impl = mla::vulkan::Context::Impl;

namespace {

VkDeviceSize round_up(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }

VkDeviceSize offset_alignment(const Impl& c) {
  return std::max<VkDeviceSize>(16, c.phys.props.limits.minStorageBufferOffsetAlignment);
}

// Workgroups the automatic split aims at: one per compute unit. On an H200
// (B = 128, kv_len = 4096, H = 16: 128 row groups) more partitions only added
// partial traffic: 1, 2, 5 partitions took 1.29, 1.30, 1.35 ms (and 0.595
// against 0.619 ms with the twenty-second session's coopmat decode). Smaller
// batches get more partitions, up to the cap below. MLA_VULKAN_SPLIT_WAVES
// multiplies the target (tuning).
int64_t target_workgroups(const Impl& c) {
  const char* v = std::getenv("MLA_VULKAN_SPLIT_WAVES");
  const int waves = v && std::atoi(v) > 0 ? std::atoi(v) : 1;
  return int64_t(waves) * std::max<uint32_t>(1, c.phys.compute_units);
}

int32_t ceil_div(int64_t a, int64_t b) { return int32_t((a + b - 1) / b); }

}  // namespace

Status plan_workspace(const Impl& c, const ProblemDesc& d, WorkspaceLayout* w) {
  MLA_RETURN_IF_ERROR(validate_desc(d));
  *w = WorkspaceLayout();
  w->variant = &c.pipelines.for_heads(d.num_heads, d.kv_format);
  const int64_t rows = int64_t(d.total_q) * d.num_heads;
  const int64_t cap = int64_t(d.max_pages) * d.page_size;  // no request has more keys (else it is flagged)
  const int key_tile = w->variant->keys;
  const VkDeviceSize max_range = c.phys.props.limits.maxStorageBufferRange;

  if (d.batch_invariant) {
    w->split_mode = MLA_VK_SPLIT_INVARIANT;
    w->split_count = 0;
    w->split_slots = std::max(1, std::min<int32_t>(MLA_MAX_SPLITS, ceil_div(cap, MLA_INVARIANT_SPLIT_KEYS)));
  } else if (d.num_splits > 0) {
    w->split_mode = MLA_VK_SPLIT_EXPLICIT;
    w->split_count = d.num_splits;
    w->split_slots = std::max(1, std::min<int32_t>(d.num_splits, ceil_div(cap, key_tile)));
  } else {
    // As many partitions as keep the row groups times partitions within the
    // target (at least one): rounding up would start a second, mostly idle
    // wave of smaller workgroups (128 groups on 132 compute units: 2
    // partitions, 256 workgroups); never more than a request of `cap` keys
    // can use, and never more than the partial buffer can hold.
    w->split_mode = MLA_VK_SPLIT_AUTO;
    const int64_t groups = std::max<int64_t>(1, (rows + w->variant->rows - 1) / w->variant->rows);
    int64_t s = std::max<int64_t>(1, target_workgroups(c) / groups);
    s = std::min<int64_t>({s, MLA_MAX_SPLITS, std::max<int64_t>(1, cap / MLA_VK_MIN_SPLIT_KEYS)});
    if (rows > 0) s = std::min<int64_t>(s, std::max<int64_t>(1, int64_t(max_range / (rows * MLA_DIM_V * 4))));
    w->split_count = int32_t(std::max<int64_t>(1, s));
    w->split_slots = w->split_count;
  }

  const VkDeviceSize align = offset_alignment(c);
  const VkDeviceSize slots = w->split_slots > 1 ? VkDeviceSize(rows) * w->split_slots : 0;
  if (slots * MLA_DIM_V * 4 > max_range)
    return Status(StatusCode::unsupported,
                  "split-K partials need " + std::to_string(slots * MLA_DIM_V * 4) + " bytes (" + std::to_string(rows) +
                      " rows x " + std::to_string(w->split_slots) + " partitions), more than maxStorageBufferRange = " +
                      std::to_string(max_range) + "; use fewer splits");
  w->meta_bytes = round_up(VkDeviceSize(MLA_VK_META_WORDS(VkDeviceSize(d.batch))) * 4, align);
  if (w->meta_bytes > max_range)
    return Status(StatusCode::unsupported, "the plan of " + std::to_string(d.batch) + " requests needs " +
                                               std::to_string(w->meta_bytes) + " bytes, more than maxStorageBufferRange");
  w->part_lse_offset = w->meta_bytes;
  w->part_lse_bytes = std::max<VkDeviceSize>(16, slots * 4);
  w->part_out_offset = w->part_lse_offset + round_up(w->part_lse_bytes, align);
  w->part_out_bytes = std::max<VkDeviceSize>(16, slots * MLA_DIM_V * 4);
  w->total = w->part_out_offset + round_up(w->part_out_bytes, align);
  return Status::Ok();
}

namespace {

// One binding: the caller's range, or the dummy buffer when the problem has nothing there.
struct Binding {
  const char* name;
  const BufferRange* range;
  VkDeviceSize bytes;  // what the problem reads or writes; 0: not needed
};

Status check_binding(const Impl& c, const Binding& b, VkDescriptorBufferInfo* info) {
  if (b.bytes == 0) {
    if (b.range->buffer != VK_NULL_HANDLE && b.range->offset % offset_alignment(c) != 0)
      return invalid_argument(std::string(b.name) + ".offset = " + std::to_string(b.range->offset) +
                              " is not a multiple of " + std::to_string(offset_alignment(c)));
    *info = VkDescriptorBufferInfo{c.dummy.handle(), 0, c.dummy.size()};
    return Status::Ok();
  }
  if (b.range->buffer == VK_NULL_HANDLE)
    return invalid_argument(std::string(b.name) + ".buffer = VK_NULL_HANDLE (" + std::to_string(b.bytes) +
                            " bytes are needed)");
  if (b.range->offset % offset_alignment(c) != 0)
    return invalid_argument(std::string(b.name) + ".offset = " + std::to_string(b.range->offset) +
                            " is not a multiple of " + std::to_string(offset_alignment(c)) +
                            " (16 and minStorageBufferOffsetAlignment)");
  if (b.range->size == VK_WHOLE_SIZE || b.range->size < b.bytes)
    return invalid_argument(std::string(b.name) + ".size = " +
                            (b.range->size == VK_WHOLE_SIZE ? std::string("VK_WHOLE_SIZE") : std::to_string(b.range->size)) +
                            " but the problem needs " + std::to_string(b.bytes) + " bytes");
  // The shaders address each binding from its start; it is bound with exactly what the problem uses.
  if (b.bytes > c.phys.props.limits.maxStorageBufferRange)
    return Status(StatusCode::unsupported, std::string(b.name) + " needs " + std::to_string(b.bytes) +
                                               " bytes, more than this device's maxStorageBufferRange = " +
                                               std::to_string(c.phys.props.limits.maxStorageBufferRange));
  *info = VkDescriptorBufferInfo{b.range->buffer, b.range->offset, b.bytes};
  return Status::Ok();
}

PushConstants make_push(const ProblemDesc& d, const WorkspaceLayout& w) {
  PushConstants p{};
  p.batch = d.batch;
  p.num_heads = d.num_heads;
  p.total_q = d.total_q;
  p.q_format = int32_t(d.q_format);
  p.kv_format = int32_t(d.kv_format);
  p.mask = int32_t(d.mask);
  p.window = d.window;
  p.chunk = d.chunk;
  p.scale_log2 = float(double(d.softmax_scale) * 1.4426950408889634);  // exp(x) = exp2(x log2 e)
  p.page_size = d.page_size;
  int shift = 0;
  while ((1 << shift) < d.page_size) ++shift;
  p.page_shift = shift;
  p.num_pages = d.num_pages;
  p.max_pages = d.max_pages;
  p.split_mode = w.split_mode;
  p.split_count = w.split_count;
  p.split_slots = w.split_slots;
  p.rows_per_group = w.variant->rows;
  p.key_tile = w.variant->keys;
  return p;
}

// Makes compute / transfer writes of earlier commands visible to what follows.
void barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags src_access, VkPipelineStageFlags dst,
             VkAccessFlags dst_access) {
  auto mb = vk_struct<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = src_access;
  mb.dstAccessMask = dst_access;
  vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

constexpr VkPipelineStageFlags kCompute = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
constexpr VkAccessFlags kShaderRW = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;

}  // namespace

Status record_passes(Impl& c, VkCommandBuffer cmd, const ProblemDesc& d, const DeviceBuffers& bufs,
                     VkQueryPool timestamps) {
  WorkspaceLayout w;
  MLA_RETURN_IF_ERROR(plan_workspace(c, d, &w));
  if (d.batch == 0) return Status::Ok();
  if (cmd == VK_NULL_HANDLE) return invalid_argument("cmd = VK_NULL_HANDLE");

  const bool fp8_q = d.q_format == RowFormat::fp8_rope640, fp8_kv = d.kv_format == RowFormat::fp8_rope640;
  const VkDeviceSize B = VkDeviceSize(d.batch);
  const BufferRange fp8_table{c.fp8_table.handle(), 0, c.fp8_table.size()};
  const Binding bindings[MLA_VK_NUM_BINDINGS] = {
      {"q", &bufs.q, VkDeviceSize(q_elems_bytes(d))},
      {"q_scales", &bufs.q_scales, fp8_q ? VkDeviceSize(d.total_q) * 4 : 0},
      {"kv_pool", &bufs.kv_pool, VkDeviceSize(kv_pool_bytes(d))},
      {"kv_scales", &bufs.kv_scales, fp8_kv ? VkDeviceSize(kv_scales_count(d)) * 4 : 0},
      {"page_table", &bufs.page_table, VkDeviceSize(page_table_count(d)) * 4},
      {"q_offsets", &bufs.q_offsets, (B + 1) * 4},
      {"kv_lens", &bufs.kv_lens, B * 4},
      {"out", &bufs.out, VkDeviceSize(out_count(d)) * 2},
      {"lse", &bufs.lse, VkDeviceSize(lse_count(d)) * 4},
      {"status", &bufs.status, (B + 1) * 4},
      {"workspace (meta)", &bufs.workspace, w.meta_bytes},
      {"workspace (partial lse)", &bufs.workspace, w.part_lse_bytes},
      {"workspace (partial out)", &bufs.workspace, w.part_out_bytes},
      {"fp8 table", &fp8_table, 256 * sizeof(float)},
  };
  if (bufs.workspace.size == VK_WHOLE_SIZE || bufs.workspace.size < w.total)
    return invalid_argument("workspace.size = " + std::to_string(bufs.workspace.size) + " but workspace_bytes() = " +
                            std::to_string(w.total));
  VkDescriptorBufferInfo infos[MLA_VK_NUM_BINDINGS];
  for (int i = 0; i < MLA_VK_NUM_BINDINGS; ++i) MLA_RETURN_IF_ERROR(check_binding(c, bindings[i], &infos[i]));
  infos[MLA_VK_BIND_PART_LSE].offset += w.part_lse_offset;
  infos[MLA_VK_BIND_PART_OUT].offset += w.part_out_offset;

  // The clock profile (MLA_VULKAN_CM_PROFILE=1): the context's buffer at the extra binding.
  const bool profile = c.pipelines.profile;
  const uint32_t binding_count = MLA_VK_NUM_BINDINGS + (profile ? 1 : 0);
  VkDescriptorBufferInfo profile_info{c.profile.handle(), 0, c.profile.size()};
  VkWriteDescriptorSet writes[MLA_VK_NUM_BINDINGS + 1];
  for (uint32_t i = 0; i < binding_count; ++i) {
    writes[i] = vk_struct<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = i == MLA_VK_BIND_PROFILE ? &profile_info : &infos[i];
  }
  const PushConstants push = make_push(d, w);
  const Pipelines& p = c.pipelines;

  // Earlier compute / transfer writes (inputs produced just before, or the
  // previous decode's use of the same workspace) before we read or overwrite.
  barrier(cmd, kCompute | VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
          kCompute | VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_DRAW_INDIRECT_BIT,
          kShaderRW | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_INDIRECT_COMMAND_READ_BIT);
  if (timestamps) {
    vkCmdResetQueryPool(cmd, timestamps, 0, 2);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, timestamps, 0);
  }
  vkCmdFillBuffer(cmd, bufs.status.buffer, bufs.status.offset, (B + 1) * 4, 0);
  if (profile) vkCmdFillBuffer(cmd, c.profile.handle(), 0, c.profile.size(), 0);  // no profile until workgroup 0 writes one
  barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, kCompute, kShaderRW);

  c.push_descriptor_set(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, binding_count, writes);
  vkCmdPushConstants(cmd, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(push), &push);

  const int64_t entries = int64_t(d.batch) * d.max_pages;
  if (entries > 0) {
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p.pages);
    const int64_t groups = std::min<int64_t>((entries + MLA_VK_PAGES_THREADS - 1) / MLA_VK_PAGES_THREADS,
                                             MLA_VK_PAGES_MAX_GROUPS);
    vkCmdDispatch(cmd, uint32_t(groups), 1, 1);
    barrier(cmd, kCompute, VK_ACCESS_SHADER_WRITE_BIT, kCompute, kShaderRW);
  }
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p.plan);
  vkCmdDispatch(cmd, 1, 1, 1);
  barrier(cmd, kCompute, VK_ACCESS_SHADER_WRITE_BIT, kCompute | VK_PIPELINE_STAGE_DRAW_INDIRECT_BIT,
          kShaderRW | VK_ACCESS_INDIRECT_COMMAND_READ_BIT);

  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, w.variant->pipeline);
  vkCmdDispatchIndirect(cmd, bufs.workspace.buffer, bufs.workspace.offset + 4 * MLA_VK_META_DECODE_ARGS);
  if (w.split_slots > 1) {
    barrier(cmd, kCompute, VK_ACCESS_SHADER_WRITE_BIT, kCompute, kShaderRW);
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p.combine);
    vkCmdDispatchIndirect(cmd, bufs.workspace.buffer, bufs.workspace.offset + 4 * MLA_VK_META_COMBINE_ARGS);
  }
  if (timestamps) vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, timestamps, 1);
  // The profile is read by the host (Context::cm_profile) once the caller has waited.
  if (profile) barrier(cmd, kCompute, VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  return Status::Ok();
}

}  // namespace mla::vulkan_impl

namespace mla::vulkan {

Status Context::workspace_bytes(const ProblemDesc& desc, VkDeviceSize* bytes) const {
  vulkan_impl::WorkspaceLayout w;
  MLA_RETURN_IF_ERROR(vulkan_impl::plan_workspace(*impl_, desc, &w));
  *bytes = desc.batch == 0 ? 0 : w.total;
  return Status::Ok();
}

Status Context::record_decode(VkCommandBuffer cmd, const ProblemDesc& desc, const DeviceBuffers& buffers) {
  return vulkan_impl::record_passes(*impl_, cmd, desc, buffers, VK_NULL_HANDLE);
}

}  // namespace mla::vulkan
