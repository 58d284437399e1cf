// Device-local uploads and timestamped repetitions for the bench test.
#include "bench_runner.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

namespace vk_test {

namespace {

#define VK_REQUIRE(call)                                              \
  do {                                                                \
    const VkResult r_ = (call);                                       \
    REQUIRE_MESSAGE(r_ == VK_SUCCESS, #call " returned " << int(r_)); \
  } while (0)

uint32_t memory_type(VkPhysicalDevice pd, uint32_t allowed, VkMemoryPropertyFlags want) {
  VkPhysicalDeviceMemoryProperties props;
  vkGetPhysicalDeviceMemoryProperties(pd, &props);
  for (uint32_t i = 0; i < props.memoryTypeCount; ++i)
    if ((allowed & (1u << i)) && (props.memoryTypes[i].propertyFlags & want) == want) return i;
  for (uint32_t i = 0; i < props.memoryTypeCount; ++i)
    if (allowed & (1u << i)) return i;
  FAIL("no memory type");
  return 0;
}

}  // namespace

BenchRunner::BenchRunner(mla::vulkan::Context& ctx, const mla::test::HostProblem& p) : ctx_(ctx) {
  VkCommandPoolCreateInfo pi{};
  pi.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pi.queueFamilyIndex = ctx.queue_family();
  VK_REQUIRE(vkCreateCommandPool(ctx.device(), &pi, nullptr, &pool_));
  VkFenceCreateInfo fi{};
  fi.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
  VK_REQUIRE(vkCreateFence(ctx.device(), &fi, nullptr, &fence_));
  VkQueryPoolCreateInfo qi{};
  qi.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
  qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
  qi.queryCount = uint32_t(2 * max_reps_);
  VK_REQUIRE(vkCreateQueryPool(ctx.device(), &qi, nullptr, &queries_));
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(ctx.physical_device(), &props);
  tick_ns_ = props.limits.timestampPeriod;

  const auto& d = p.desc;
  buffers_.q = device_copy(p.q.data(), p.q.size());
  if (!p.q_scales.empty()) buffers_.q_scales = device_copy(p.q_scales.data(), p.q_scales.size() * 4);
  buffers_.kv_pool = device_copy(p.kv_pool.data(), p.kv_pool.size());
  if (!p.kv_scales.empty()) buffers_.kv_scales = device_copy(p.kv_scales.data(), p.kv_scales.size() * 4);
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
  const VkDevice dev = ctx_.device();
  vkDeviceWaitIdle(dev);
  for (auto& a : allocs_) free(a);
  if (queries_) vkDestroyQueryPool(dev, queries_, nullptr);
  if (fence_) vkDestroyFence(dev, fence_, nullptr);
  if (pool_) vkDestroyCommandPool(dev, pool_, nullptr);
}

BenchRunner::Allocation BenchRunner::allocate(VkDeviceSize bytes, VkBufferUsageFlags usage, bool host_visible) {
  Allocation a;
  VkBufferCreateInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  bi.size = (bytes + 15) / 16 * 16;
  bi.usage = usage;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VK_REQUIRE(vkCreateBuffer(ctx_.device(), &bi, nullptr, &a.buffer));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(ctx_.device(), a.buffer, &req);
  VkMemoryAllocateInfo ai{};
  ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = memory_type(ctx_.physical_device(), req.memoryTypeBits,
                                   host_visible ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
                                                : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  VK_REQUIRE(vkAllocateMemory(ctx_.device(), &ai, nullptr, &a.memory));
  VK_REQUIRE(vkBindBufferMemory(ctx_.device(), a.buffer, a.memory, 0));
  if (host_visible) VK_REQUIRE(vkMapMemory(ctx_.device(), a.memory, 0, VK_WHOLE_SIZE, 0, &a.mapped));
  return a;
}

void BenchRunner::free(Allocation& a) {
  if (a.mapped) vkUnmapMemory(ctx_.device(), a.memory);
  vkDestroyBuffer(ctx_.device(), a.buffer, nullptr);
  vkFreeMemory(ctx_.device(), a.memory, nullptr);
  a = Allocation();
}

mla::vulkan::BufferRange BenchRunner::device_copy(const void* data, VkDeviceSize bytes, VkBufferUsageFlags extra) {
  if (bytes == 0) return mla::vulkan::BufferRange{};
  allocs_.push_back(allocate(bytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT | extra, false));
  const VkBuffer dst = allocs_.back().buffer;
  if (data) {
    Allocation staging = allocate(bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, true);
    std::memcpy(staging.mapped, data, bytes);
    VkCommandBuffer cmd = begin();
    const VkBufferCopy region{0, 0, bytes};
    vkCmdCopyBuffer(cmd, staging.buffer, dst, 1, &region);
    submit_and_wait(cmd);
    free(staging);
  }
  return mla::vulkan::BufferRange{dst, 0, bytes};
}

VkCommandBuffer BenchRunner::begin() {
  VkCommandBufferAllocateInfo ai{};
  ai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  ai.commandPool = pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VK_REQUIRE(vkAllocateCommandBuffers(ctx_.device(), &ai, &cmd));
  VkCommandBufferBeginInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VK_REQUIRE(vkBeginCommandBuffer(cmd, &bi));
  return cmd;
}

void BenchRunner::submit_and_wait(VkCommandBuffer cmd) {
  VK_REQUIRE(vkEndCommandBuffer(cmd));
  VkSubmitInfo si{};
  si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd;
  VK_REQUIRE(vkResetFences(ctx_.device(), 1, &fence_));
  VK_REQUIRE(vkQueueSubmit(ctx_.queue(), 1, &si, fence_));
  VK_REQUIRE(vkWaitForFences(ctx_.device(), 1, &fence_, VK_TRUE, 600ull * 1000 * 1000 * 1000));
  vkFreeCommandBuffers(ctx_.device(), pool_, 1, &cmd);
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
  REQUIRE(reps <= max_reps_);
  VkCommandBuffer cmd = begin();
  vkCmdResetQueryPool(cmd, queries_, 0, uint32_t(2 * reps));
  for (int i = 0; i < reps; ++i) {
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, uint32_t(2 * i));
    const mla::Status st = ctx_.record_decode(cmd, desc, buffers_);
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, uint32_t(2 * i + 1));
  }
  submit_and_wait(cmd);
  return read_times(reps);
}

std::vector<double> BenchRunner::time_copy(VkDeviceSize bytes, int reps) {
  REQUIRE(reps <= max_reps_);
  const VkBufferUsageFlags usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  Allocation a = allocate(bytes, usage, false), b = allocate(bytes, usage, false);
  VkCommandBuffer cmd = begin();
  vkCmdResetQueryPool(cmd, queries_, 0, uint32_t(2 * reps));
  vkCmdFillBuffer(cmd, a.buffer, 0, VK_WHOLE_SIZE, 0x3F803F80u);
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  for (int i = 0; i < reps; ++i) {
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, nullptr, 0,
                         nullptr);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, uint32_t(2 * i));
    const VkBufferCopy region{0, 0, bytes};
    vkCmdCopyBuffer(cmd, a.buffer, b.buffer, 1, &region);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, uint32_t(2 * i + 1));
  }
  submit_and_wait(cmd);
  free(a);
  free(b);
  return read_times(reps);
}

std::vector<uint16_t> BenchRunner::out() {
  const VkDeviceSize bytes = buffers_.out.size;
  Allocation rb = allocate(bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, true);
  VkCommandBuffer cmd = begin();
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, nullptr,
                       0, nullptr);
  const VkBufferCopy region{0, 0, bytes};
  vkCmdCopyBuffer(cmd, buffers_.out.buffer, rb.buffer, 1, &region);
  mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0,
                       nullptr);
  submit_and_wait(cmd);
  std::vector<uint16_t> v(bytes / 2);
  std::memcpy(v.data(), rb.mapped, bytes);
  free(rb);
  return v;
}

}  // namespace vk_test
