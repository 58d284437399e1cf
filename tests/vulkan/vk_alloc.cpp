// Test-side buffers and submission.
#include "vk_alloc.h"

#include <doctest/doctest.h>

namespace vk_test {

namespace {

uint32_t memory_type(VkPhysicalDevice pd, uint32_t allowed, VkMemoryPropertyFlags want, bool required) {
  VkPhysicalDeviceMemoryProperties props;
  vkGetPhysicalDeviceMemoryProperties(pd, &props);
  for (uint32_t i = 0; i < props.memoryTypeCount; ++i)
    if ((allowed & (1u << i)) && (props.memoryTypes[i].propertyFlags & want) == want) return i;
  REQUIRE_MESSAGE(!required, "no memory type with flags " << want);
  for (uint32_t i = 0; i < props.memoryTypeCount; ++i)
    if (allowed & (1u << i)) return i;
  FAIL("the buffer accepts no memory type");
  return 0;
}

}  // namespace

TestBuffer alloc_buffer(mla::vulkan::Context& ctx, VkDeviceSize bytes, VkBufferUsageFlags usage, bool host_visible) {
  TestBuffer b;
  b.size = (bytes + 15) / 16 * 16;
  VkBufferCreateInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  bi.size = b.size;
  bi.usage = usage;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VK_REQUIRE(vkCreateBuffer(ctx.device(), &bi, nullptr, &b.buffer));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(ctx.device(), b.buffer, &req);
  VkMemoryAllocateInfo ai{};
  ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  ai.allocationSize = req.size;
  ai.memoryTypeIndex =
      host_visible ? memory_type(ctx.physical_device(), req.memoryTypeBits,
                                 VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, true)
                   : memory_type(ctx.physical_device(), req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, false);
  VK_REQUIRE(vkAllocateMemory(ctx.device(), &ai, nullptr, &b.memory));
  VK_REQUIRE(vkBindBufferMemory(ctx.device(), b.buffer, b.memory, 0));
  if (host_visible) VK_REQUIRE(vkMapMemory(ctx.device(), b.memory, 0, VK_WHOLE_SIZE, 0, &b.mapped));
  return b;
}

void free_buffer(mla::vulkan::Context& ctx, TestBuffer& b) {
  if (b.mapped) vkUnmapMemory(ctx.device(), b.memory);
  if (b.buffer) vkDestroyBuffer(ctx.device(), b.buffer, nullptr);
  if (b.memory) vkFreeMemory(ctx.device(), b.memory, nullptr);
  b = TestBuffer();
}

Submitter::Submitter(mla::vulkan::Context& ctx) : ctx_(ctx) {
  VkCommandPoolCreateInfo pi{};
  pi.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  pi.queueFamilyIndex = ctx.queue_family();
  VK_REQUIRE(vkCreateCommandPool(ctx.device(), &pi, nullptr, &pool_));
  VkFenceCreateInfo fi{};
  fi.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
  VK_REQUIRE(vkCreateFence(ctx.device(), &fi, nullptr, &fence_));
}

Submitter::~Submitter() {
  if (fence_) vkDestroyFence(ctx_.device(), fence_, nullptr);
  if (pool_) vkDestroyCommandPool(ctx_.device(), pool_, nullptr);
}

VkCommandBuffer Submitter::begin() {
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

void Submitter::submit_and_wait(VkCommandBuffer cmd) {
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

void Submitter::discard(VkCommandBuffer cmd) {
  VK_REQUIRE(vkEndCommandBuffer(cmd));
  vkFreeCommandBuffers(ctx_.device(), pool_, 1, &cmd);
}

void memory_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags src_access, VkPipelineStageFlags dst,
                    VkAccessFlags dst_access) {
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = src_access;
  mb.dstAccessMask = dst_access;
  vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

}  // namespace vk_test
