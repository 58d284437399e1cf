// pipeline_cache.h - the VkPipelineCache of a context: created once, before
// the pipelines, and every pipeline is created through it. With a file
// (Options::pipeline_cache_file or MLA_VULKAN_PIPELINE_CACHE) it is seeded
// from the file when the file's header (Vulkan spec, "Pipeline Cache":
// header length, VK_PIPELINE_CACHE_HEADER_VERSION_ONE, vendor id, device id,
// pipelineCacheUUID) matches the device, and its data is written back after
// the pipelines are built when it differs from what was read. A missing,
// short, foreign or corrupted file is ignored, and so is any failure to
// write: a cache is an optimisation, never an error. Creation time only;
// nothing here runs on the decode path.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mla/status.h"

namespace mla::vulkan_impl {

struct PipelineCache {
  VkPipelineCache cache = VK_NULL_HANDLE;
  std::string file;            // "" without a file
  std::vector<uint8_t> loaded;  // the file's data the cache was seeded with, until saved (empty: none)
  uint64_t loaded_bytes = 0;    // their size
};

// The file a context uses: `option` when non-empty, else
// MLA_VULKAN_PIPELINE_CACHE, else "" (a cache in memory only).
std::string pipeline_cache_file(const std::string& option);

// Whether `data` starts with a version-one pipeline cache header of this
// device (and is at least as long as the header says it is).
bool pipeline_cache_header_matches(const std::vector<uint8_t>& data, const VkPhysicalDeviceProperties& props);

// Creates out->cache, seeded from `file` ("" for none) when its header matches.
Status create_pipeline_cache(VkDevice device, const VkPhysicalDeviceProperties& props, const std::string& file,
                             PipelineCache* out);

// Writes the cache's data to its file when there is one and the data differ
// from what was loaded (a temporary file renamed over it, so a concurrent
// reader sees the old or the new file whole), then frees c->loaded.
// Failures are ignored.
void save_pipeline_cache(VkDevice device, PipelineCache* c);

void destroy_pipeline_cache(VkDevice device, PipelineCache* c);

}  // namespace mla::vulkan_impl
