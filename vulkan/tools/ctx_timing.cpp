// vk_ctx_timing: creates a Vulkan context N times in one process and prints
// the time of each phase of Context::create (DeviceInfo::create_ms) as a
// table, one column per creation. The MLA_VULKAN_* variables apply as in any
// context (MLA_VULKAN_COOPMAT picks the decode, MLA_VULKAN_PIPELINE_CACHE the
// cache file, MLA_VULKAN_VALIDATION the layer); vulkan/README.md, "Context
// creation time".
//
//   vk_ctx_timing [--repeat N] [--cache FILE] [--validation]
//
// Exit status: 0, 1 when a creation fails, 2 on wrong options.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mla/vulkan.h"

namespace {

int usage() {
  std::fprintf(stderr, "usage: vk_ctx_timing [--repeat N (1..100, default 3)] [--cache FILE] [--validation]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 3;
  mla::vulkan::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--repeat" && i + 1 < argc) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (*end || v < 1 || v > 100) return usage();
      repeat = int(v);
    } else if (a == "--cache" && i + 1 < argc) {
      options.pipeline_cache_file = argv[++i];
    } else if (a == "--validation") {
      options.validation = true;
    } else {
      return usage();
    }
  }
  // Rows: phases in the order the first creation booked them; one column a creation.
  std::vector<std::string> phases;
  std::vector<std::vector<double>> ms;  // [phase][creation]
  for (int r = 0; r < repeat; ++r) {
    std::unique_ptr<mla::vulkan::Context> ctx;
    const mla::Status st = mla::vulkan::Context::create(options, &ctx);
    if (!st.ok()) {
      std::fprintf(stderr, "vk_ctx_timing: creation %d failed: %s\n", r + 1, st.to_string().c_str());
      return 1;
    }
    const mla::vulkan::DeviceInfo info = ctx->device_info();
    std::printf("create %d: %s, decode %s, tiles %s, pipeline cache %s (%llu B loaded)%s\n", r + 1, info.name.c_str(),
                info.decode.c_str(), info.tiles.c_str(),
                info.pipeline_cache_file.empty() ? "in memory" : info.pipeline_cache_file.c_str(),
                (unsigned long long)info.pipeline_cache_loaded_bytes, ctx->validation_messages() ? ", VALIDATION MESSAGES" : "");
    for (const auto& p : info.create_ms) {
      size_t k = 0;
      while (k < phases.size() && phases[k] != p.first) ++k;
      if (k == phases.size()) {
        phases.push_back(p.first);
        ms.emplace_back(repeat, -1.0);
      }
      ms[k][r] = p.second;
    }
  }
  std::printf("%-34s", "phase (ms)");
  for (int r = 0; r < repeat; ++r) std::printf(" %10s", ("create " + std::to_string(r + 1)).c_str());
  std::printf("\n");
  for (size_t k = 0; k < phases.size(); ++k) {
    std::printf("%-34s", phases[k].c_str());
    for (double v : ms[k]) v < 0 ? std::printf(" %10s", "-") : std::printf(" %10.2f", v);
    std::printf("\n");
  }
  return 0;
}
