// The context's pipeline cache and its optional file (pipeline_cache.h).
#include "pipeline_cache.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "vk_check.h"
#include "vk_struct.h"

namespace mla::vulkan_impl {

namespace {

// Version one of the header: length, version, vendor id, device id (uint32
// each, least significant byte first), then the 16-byte cache UUID.
constexpr size_t kHeaderBytes = 16 + VK_UUID_SIZE;
// A file larger than this is not a cache of our ~10 pipelines: not read.
constexpr std::streamoff kMaxFileBytes = std::streamoff(256) << 20;

uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

// The whole file, or empty when it cannot be read or is too large.
std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return {};
  const std::streamoff size = f.tellg();
  if (size <= 0 || size > kMaxFileBytes) return {};
  std::vector<uint8_t> data(static_cast<size_t>(size));
  f.seekg(0);
  if (!f.read(reinterpret_cast<char*>(data.data()), size)) return {};
  return data;
}

}  // namespace

std::string pipeline_cache_file(const std::string& option) {
  if (!option.empty()) return option;
  const char* v = std::getenv("MLA_VULKAN_PIPELINE_CACHE");
  return v ? v : "";
}

bool pipeline_cache_header_matches(const std::vector<uint8_t>& data, const VkPhysicalDeviceProperties& props) {
  if (data.size() < kHeaderBytes) return false;
  const uint32_t length = le32(&data[0]);
  return length >= kHeaderBytes && length <= data.size() && le32(&data[4]) == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
         le32(&data[8]) == props.vendorID && le32(&data[12]) == props.deviceID &&
         std::memcmp(&data[16], props.pipelineCacheUUID, VK_UUID_SIZE) == 0;
}

Status create_pipeline_cache(VkDevice device, const VkPhysicalDeviceProperties& props, const std::string& file,
                             PipelineCache* out) {
  out->file = file;
  out->loaded.clear();
  if (!file.empty()) {
    std::vector<uint8_t> data = read_file(file);
    if (pipeline_cache_header_matches(data, props)) out->loaded = std::move(data);
  }
  out->loaded_bytes = out->loaded.size();
  auto ci = vk_struct<VkPipelineCacheCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO);
  ci.initialDataSize = out->loaded.size();
  ci.pInitialData = out->loaded.empty() ? nullptr : out->loaded.data();
  MLA_VK_CHECK(vkCreatePipelineCache(device, &ci, nullptr, &out->cache));
  return Status::Ok();
}

namespace {

void write_if_changed(VkDevice device, const PipelineCache& c) {
  if (c.file.empty() || c.cache == VK_NULL_HANDLE) return;
  size_t size = 0;
  if (vkGetPipelineCacheData(device, c.cache, &size, nullptr) != VK_SUCCESS || size == 0) return;
  std::vector<uint8_t> data(size);
  if (vkGetPipelineCacheData(device, c.cache, &size, data.data()) != VK_SUCCESS) return;
  data.resize(size);
  if (data == c.loaded) return;
  static std::atomic<unsigned> serial{0};
  const std::string tmp = c.file + ".tmp." + std::to_string(long(getpid())) + "." + std::to_string(serial++);
  bool written = false;
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    written = f && f.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size())) && f.flush();
  }
  if (!written || std::rename(tmp.c_str(), c.file.c_str()) != 0) std::remove(tmp.c_str());
}

}  // namespace

void save_pipeline_cache(VkDevice device, PipelineCache* c) {
  write_if_changed(device, *c);
  c->loaded = std::vector<uint8_t>();
}

void destroy_pipeline_cache(VkDevice device, PipelineCache* c) {
  if (c->cache != VK_NULL_HANDLE) vkDestroyPipelineCache(device, c->cache, nullptr);
  *c = PipelineCache();
}

}  // namespace mla::vulkan_impl
