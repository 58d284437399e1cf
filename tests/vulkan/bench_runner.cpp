// Device-local uploads and timestamped repetitions for the bench test.
#include "bench_runner.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

namespace vk_test {

BenchRunner::BenchRunner(mla::vulkan::Context& ctx, const mla::test::HostProblem& p) : ctx_(ctx), submitter_(ctx) {
  VkQueryPoolCreateInfo qi{};
  qi.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
  qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
  qi.queryCount = uint32_t(2 * kMaxReps);
  VK_REQUIRE(vkCreateQueryPool(ctx.device(), &qi, nullptr, &queries_));
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(ctx.physical_device(), &props);
  tick_ns_ = props.limits.timestampPeriod;

  const auto& d = p.desc;
  buffers_.q = device_copy(p.q.data(), p.q.size());
  buffers_.q_scales = device_copy(p.q_scales.data(), p.q_scales.size() * 4);
  buffers_.kv_pool = device_copy(p.kv_pool.data(), p.kv_pool.size());
  buffers_.kv_scales = device_copy(p.kv_scales.data(), p.kv_scales.size() * 4);
  buffers_.page_table = device_copy(p.page_table.data(), p.page_table.size() * 4);
  buffers_.q_offsets = device_copy(p.q_offsets.data(), p.q_offsets.size() * 4);
  buffers_.kv_lens = device_copy(p.kv_lens.data(), p.kv_lens.size() * 4);
  buffers_.out = device_copy(nullptr, mla::out_count(d) * 2, VK_BUFFER_USAGE_TRANSFER_SRC_BIT);
  buffers_.lse = device_copy(nullptr, mla::lse_count(d) * 4);
  buffers_.status = device_copy(nullptr, (d.batch + 1) * 4);
  // The largest workspace of the split settings the bench sweeps (0..16).
  VkDeviceSize ws = 0;
  for (int n = 0; n <= 16; ++n) {
    mla::ProblemDesc dn = d;
    dn.num_splits = n;
    VkDeviceSize b = 0;
    REQUIRE(ctx.workspace_bytes(dn, &b).ok());
    ws = std::max(ws, b);
  }
  buffers_.workspace = device_copy(nullptr, ws, VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT);
}

BenchRunner::~BenchRunner() {
  vkDeviceWaitIdle(ctx_.device());
  for (auto& b : buffers_owned_) free_buffer(ctx_, b);
  if (queries_) vkDestroyQueryPool(ctx_.device(), queries_, nullptr);
}

mla::vulkan::BufferRange BenchRunner::device_copy(const void* data, VkDeviceSize bytes, VkBufferUsageFlags extra) {
  if (bytes == 0) return mla::vulkan::BufferRange{};
  buffers_owned_.push_back(
      alloc_buffer(ctx_, bytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT | extra, false));
  const VkBuffer dst = buffers_owned_.back().buffer;
  if (data) {
    TestBuffer staging = alloc_buffer(ctx_, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, true);
    std::memcpy(staging.mapped, data, bytes);
    VkCommandBuffer cmd = submitter_.begin();
    const VkBufferCopy region{0, 0, bytes};
    vkCmdCopyBuffer(cmd, staging.buffer, dst, 1, &region);
    submitter_.submit_and_wait(cmd);
    free_buffer(ctx_, staging);
  }
  return mla::vulkan::BufferRange{dst, 0, bytes};
}

std::vector<double> BenchRunner::read_times(int reps) {
  std::vector<uint64_t> t(2 * reps);
  VK_REQUIRE(vkGetQueryPoolResults(ctx_.device(), queries_, 0, uint32_t(t.size()), t.size() * 8, t.data(), 8,
                                   VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  std::vector<double> ms(reps);
  for (int i = 0; i < reps; ++i) ms[i] = double(t[2 * i + 1] - t[2 * i]) * tick_ns_ * 1e-6;
  return ms;
}

std::vector<double> BenchRunner::time_decode(const mla::ProblemDesc& desc, int reps) {
  REQUIRE(reps <= kMaxReps);
  VkCommandBuffer cmd = submitter_.begin();
  vkCmdResetQueryPool(cmd, queries_, 0, uint32_t(2 * reps));
  for (int i = 0; i < reps; ++i) {
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, uint32_t(2 * i));
    const mla::Status st = ctx_.record_decode(cmd, desc, buffers_);
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, uint32_t(2 * i + 1));
  }
  submitter_.submit_and_wait(cmd);
  return read_times(reps);
}

std::vector<double> BenchRunner::time_copy(VkDeviceSize bytes, int reps) {
  REQUIRE(reps <= kMaxReps);
  const VkBufferUsageFlags usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  TestBuffer a = alloc_buffer(ctx_, bytes, usage, false), b = alloc_buffer(ctx_, bytes, usage, false);
  VkCommandBuffer cmd = submitter_.begin();
  vkCmdResetQueryPool(cmd, queries_, 0, uint32_t(2 * reps));
  vkCmdFillBuffer(cmd, a.buffer, 0, VK_WHOLE_SIZE, 0x3F803F80u);
  for (int i = 0; i < reps; ++i) {
    memory_barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, uint32_t(2 * i));
    const VkBufferCopy region{0, 0, bytes};
    vkCmdCopyBuffer(cmd, a.buffer, b.buffer, 1, &region);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, uint32_t(2 * i + 1));
  }
  submitter_.submit_and_wait(cmd);
  free_buffer(ctx_, a);
  free_buffer(ctx_, b);
  return read_times(reps);
}

std::vector<uint16_t> BenchRunner::out() {
  const VkDeviceSize bytes = buffers_.out.size;
  TestBuffer rb = alloc_buffer(ctx_, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, true);
  VkCommandBuffer cmd = submitter_.begin();
  memory_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
                 VK_ACCESS_TRANSFER_READ_BIT);
  const VkBufferCopy region{0, 0, bytes};
  vkCmdCopyBuffer(cmd, buffers_.out.buffer, rb.buffer, 1, &region);
  memory_barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                 VK_ACCESS_HOST_READ_BIT);
  submitter_.submit_and_wait(cmd);
  std::vector<uint16_t> v(bytes / 2);
  std::memcpy(v.data(), rb.mapped, bytes);
  free_buffer(ctx_, rb);
  return v;
}

}  // namespace vk_test
