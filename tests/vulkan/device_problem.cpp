// Caller-owned buffers, a caller-recorded command buffer, record_decode.
#include "device_problem.h"

#include <doctest/doctest.h>

#include <cstring>

#include "vk_fixture.h"

namespace vk_test {

namespace {

#define VK_REQUIRE(call)                                           \
  do {                                                             \
    const VkResult r_ = (call);                                    \
    REQUIRE_MESSAGE(r_ == VK_SUCCESS, #call " returned " << int(r_)); \
  } while (0)

uint32_t host_visible_type(VkPhysicalDevice pd, uint32_t allowed) {
  VkPhysicalDeviceMemoryProperties props;
  vkGetPhysicalDeviceMemoryProperties(pd, &props);
  const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  for (uint32_t i = 0; i < props.memoryTypeCount; ++i)
    if ((allowed & (1u << i)) && (props.memoryTypes[i].propertyFlags & want) == want) return i;
  FAIL("no host-visible coherent memory type");
  return 0;
}

}  // namespace

DeviceProblem::DeviceProblem(mla::vulkan::Context& ctx, const mla::test::HostProblem& p) : ctx_(ctx), desc_(p.desc) {
  allocs_.reserve(16);  // pointers into allocs_ stay valid
  const mla::ProblemDesc& d = p.desc;
  const bool fp8_q = d.q_format == mla::RowFormat::fp8_rope640, fp8_kv = d.kv_format == mla::RowFormat::fp8_rope640;
  buffers_.q = make(p.q.size(), p.q.data());
  if (fp8_q) buffers_.q_scales = make(p.q_scales.size() * 4, p.q_scales.data());
  buffers_.kv_pool = make(p.kv_pool.size(), p.kv_pool.data());
  if (fp8_kv) buffers_.kv_scales = make(p.kv_scales.size() * 4, p.kv_scales.data());
  buffers_.page_table = make(p.page_table.size() * 4, p.page_table.data(), &page_table_);
  buffers_.q_offsets = make(p.q_offsets.size() * 4, p.q_offsets.data(), &q_offsets_);
  buffers_.kv_lens = make(p.kv_lens.size() * 4, p.kv_lens.data(), &kv_lens_);
  buffers_.out = make(mla::out_count(d) * 2, nullptr, &out_);
  buffers_.lse = make(mla::lse_count(d) * 4, nullptr, &lse_);
  buffers_.status = make((d.batch + 1) * 4, nullptr, &status_);
  VkDeviceSize ws = 0;
  const mla::Status st = ctx.workspace_bytes(d, &ws);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  buffers_.workspace = make(ws, nullptr);

  VkCommandPoolCreateInfo pi{};
  pi.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  pi.queueFamilyIndex = ctx.queue_family();
  VK_REQUIRE(vkCreateCommandPool(ctx.device(), &pi, nullptr, &pool_));
  VkFenceCreateInfo fi{};
  fi.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
  VK_REQUIRE(vkCreateFence(ctx.device(), &fi, nullptr, &fence_));
}

DeviceProblem::~DeviceProblem() {
  const VkDevice dev = ctx_.device();
  if (fence_) vkDestroyFence(dev, fence_, nullptr);
  if (pool_) vkDestroyCommandPool(dev, pool_, nullptr);
  for (auto& a : allocs_) {
    if (a.mapped) vkUnmapMemory(dev, a.memory);
    vkDestroyBuffer(dev, a.buffer, nullptr);
    vkFreeMemory(dev, a.memory, nullptr);
  }
}

mla::vulkan::BufferRange DeviceProblem::make(VkDeviceSize bytes, const void* data, Allocation** alloc) {
  if (bytes == 0) return mla::vulkan::BufferRange{};
  Allocation a;
  a.size = (bytes + 15) / 16 * 16;
  VkBufferCreateInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  bi.size = a.size;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
             VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  const VkDevice dev = ctx_.device();
  VK_REQUIRE(vkCreateBuffer(dev, &bi, nullptr, &a.buffer));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, a.buffer, &req);
  VkMemoryAllocateInfo ai{};
  ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = host_visible_type(ctx_.physical_device(), req.memoryTypeBits);
  VK_REQUIRE(vkAllocateMemory(dev, &ai, nullptr, &a.memory));
  VK_REQUIRE(vkBindBufferMemory(dev, a.buffer, a.memory, 0));
  VK_REQUIRE(vkMapMemory(dev, a.memory, 0, VK_WHOLE_SIZE, 0, &a.mapped));
  if (data) std::memcpy(a.mapped, data, bytes);
  allocs_.push_back(a);
  if (alloc) *alloc = &allocs_.back();
  return mla::vulkan::BufferRange{a.buffer, 0, bytes};
}

int32_t* DeviceProblem::page_table() { return page_table_ ? static_cast<int32_t*>(page_table_->mapped) : nullptr; }
int32_t* DeviceProblem::q_offsets() { return static_cast<int32_t*>(q_offsets_->mapped); }
int32_t* DeviceProblem::kv_lens() { return static_cast<int32_t*>(kv_lens_->mapped); }

mla::Status DeviceProblem::run() {
  if (out_) std::memset(out_->mapped, 0xFF, out_->size);  // poison (kPoisonBf16 / kPoisonF32Bits)
  if (lse_) std::memset(lse_->mapped, 0xFF, lse_->size);
  std::memset(status_->mapped, 0xAB, status_->size);
  const VkDevice dev = ctx_.device();
  VkCommandBufferAllocateInfo ai{};
  ai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  ai.commandPool = pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VK_REQUIRE(vkAllocateCommandBuffers(dev, &ai, &cmd));
  VkCommandBufferBeginInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VK_REQUIRE(vkBeginCommandBuffer(cmd, &bi));
  const mla::Status st = ctx_.record_decode(cmd, desc_, buffers_);
  // The caller's side of the contract: make the results visible to the host.
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
  VK_REQUIRE(vkEndCommandBuffer(cmd));
  if (st.ok()) {
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    VK_REQUIRE(vkResetFences(dev, 1, &fence_));
    VK_REQUIRE(vkQueueSubmit(ctx_.queue(), 1, &si, fence_));
    VK_REQUIRE(vkWaitForFences(dev, 1, &fence_, VK_TRUE, 600ull * 1000 * 1000 * 1000));
  }
  vkFreeCommandBuffers(dev, pool_, 1, &cmd);
  return st;
}

std::vector<uint16_t> DeviceProblem::out() const {
  std::vector<uint16_t> v(mla::out_count(desc_));
  if (!v.empty()) std::memcpy(v.data(), out_->mapped, v.size() * 2);
  return v;
}

std::vector<float> DeviceProblem::lse() const {
  std::vector<float> v(mla::lse_count(desc_));
  if (!v.empty()) std::memcpy(v.data(), lse_->mapped, v.size() * 4);
  return v;
}

std::vector<uint32_t> DeviceProblem::status() const {
  std::vector<uint32_t> v(desc_.batch + 1);
  std::memcpy(v.data(), status_->mapped, v.size() * 4);
  return v;
}

}  // namespace vk_test
