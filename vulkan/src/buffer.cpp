// Buffer allocation and memory-type choice.
#include "buffer.h"

#include <string>

#include "vk_check.h"
#include "vk_struct.h"

namespace mla::vulkan_impl {

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    reset();
    device_ = o.device_;
    buffer_ = o.buffer_;
    memory_ = o.memory_;
    size_ = o.size_;
    mapped_ = o.mapped_;
    o.buffer_ = VK_NULL_HANDLE;
    o.memory_ = VK_NULL_HANDLE;
    o.mapped_ = nullptr;
  }
  return *this;
}

void Buffer::reset() {
  if (mapped_) vkUnmapMemory(device_, memory_);
  if (buffer_) vkDestroyBuffer(device_, buffer_, nullptr);
  if (memory_) vkFreeMemory(device_, memory_, nullptr);
  buffer_ = VK_NULL_HANDLE;
  memory_ = VK_NULL_HANDLE;
  mapped_ = nullptr;
  size_ = 0;
}

Status Buffer::create(VkDevice device, const VkPhysicalDeviceMemoryProperties& props, VkDeviceSize size,
                      VkBufferUsageFlags usage, bool host_visible, Buffer* out) {
  out->reset();
  out->device_ = device;
  out->size_ = size == 0 ? 16 : (size + 15) / 16 * 16;
  auto bi = vk_struct<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  bi.size = out->size_;
  bi.usage = usage;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  MLA_VK_CHECK(vkCreateBuffer(device, &bi, nullptr, &out->buffer_));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device, out->buffer_, &req);

  const VkMemoryPropertyFlags want = host_visible
                                         ? (VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)
                                         : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  uint32_t type = UINT32_MAX;
  for (uint32_t i = 0; i < props.memoryTypeCount && type == UINT32_MAX; ++i)
    if ((req.memoryTypeBits & (1u << i)) && (props.memoryTypes[i].propertyFlags & want) == want) type = i;
  if (type == UINT32_MAX && !host_visible)  // no device-local type: any type the buffer accepts
    for (uint32_t i = 0; i < props.memoryTypeCount && type == UINT32_MAX; ++i)
      if (req.memoryTypeBits & (1u << i)) type = i;
  if (type == UINT32_MAX)
    return Status(StatusCode::unsupported, std::string("no ") + (host_visible ? "host-visible coherent" : "usable") +
                                               " memory type for a buffer of " + std::to_string(out->size_) + " bytes");
  auto ai = vk_struct<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = type;
  MLA_VK_CHECK(vkAllocateMemory(device, &ai, nullptr, &out->memory_));
  MLA_VK_CHECK(vkBindBufferMemory(device, out->buffer_, out->memory_, 0));
  if (host_visible) MLA_VK_CHECK(vkMapMemory(device, out->memory_, 0, VK_WHOLE_SIZE, 0, &out->mapped_));
  return Status::Ok();
}

}  // namespace mla::vulkan_impl
