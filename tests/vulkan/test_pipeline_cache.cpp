// The pipeline cache file (Options::pipeline_cache_file,
// MLA_VULKAN_PIPELINE_CACHE): a second context seeds its cache from the file
// the first one wrote and still decodes right; a file that is not a cache of
// this device (garbage, short, another vendor / device / cache UUID / header
// version, a header longer than the file, empty) or a path that cannot be
// written is ignored without an error, and a bad file is replaced by a good one.
#include <doctest/doctest.h>
#include <unistd.h>
#include <vulkan/vulkan.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "vk_fixture.h"

using mla::test::HostProblem;
using mla::test::ProblemSpec;
namespace fs = std::filesystem;

namespace {

HostProblem small_problem() {
  ProblemSpec s;
  s.seed = vk_test::run_seed() + 90;
  s.num_heads = 8;
  s.mask = mla::MaskKind::causal;
  s.page_size = 16;
  s.q_lens = {1, 2};
  s.kv_lens = {40, 130};
  return mla::test::make_problem(s);
}

// A file name of this process (the lavapipe registrations run in parallel).
std::string temp_file(const std::string& name) {
  return (fs::temp_directory_path() / ("mla_pipeline_cache_" + std::to_string(long(getpid())) + "_" + name)).string();
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
  REQUIRE(f.good());
}

void put32(std::vector<uint8_t>* d, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*d)[at + i] = uint8_t(v >> (8 * i));
}

// The version-one header (Vulkan spec, "Pipeline Cache Header") of the
// device the suite runs on, built here from its properties, not by the library.
std::vector<uint8_t> device_header() {
  VkPhysicalDeviceProperties props{};
  vkGetPhysicalDeviceProperties(vk_test::context().physical_device(), &props);
  std::vector<uint8_t> h(16 + VK_UUID_SIZE);
  put32(&h, 0, uint32_t(h.size()));
  put32(&h, 4, VK_PIPELINE_CACHE_HEADER_VERSION_ONE);
  put32(&h, 8, props.vendorID);
  put32(&h, 12, props.deviceID);
  std::memcpy(&h[16], props.pipelineCacheUUID, VK_UUID_SIZE);
  return h;
}

mla::vulkan::Options cache_options(const std::string& file, mla::vulkan::Options::CoopMat coopmat) {
  mla::vulkan::Options o;
  o.validation = vk_test::validation_wanted();
  o.coopmat = coopmat;
  o.pipeline_cache_file = file;
  return o;
}

std::unique_ptr<mla::vulkan::Context> create(const mla::vulkan::Options& o) {
  std::unique_ptr<mla::vulkan::Context> ctx;
  const mla::Status st = mla::vulkan::Context::create(o, &ctx);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  CHECK(ctx->validation_messages() == 0);
  return ctx;
}

}  // namespace

TEST_CASE("pipeline cache: a second context loads the file the first one wrote") {
  // The decode the suite runs with (MLA_VULKAN_COOPMAT), so a GPU run caches its pipelines.
  const std::string file = temp_file("reuse");
  fs::remove(file);
  const auto o = cache_options(file, mla::vulkan::Options::CoopMat::from_env);
  {
    const auto first = create(o);
    const auto info = first->device_info();
    CHECK(info.pipeline_cache_file == file);
    CHECK(info.pipeline_cache_loaded_bytes == 0u);
    REQUIRE(!info.create_ms.empty());
    CHECK(info.create_ms.back().first == "total");
    int pipelines = 0;
    for (const auto& p : info.create_ms) pipelines += p.first.compare(0, 9, "pipeline ") == 0;
    CHECK(pipelines >= 5);  // pages, plan, combine, copy and a decode at least
  }
  const std::vector<uint8_t> written = read_bytes(file);
  REQUIRE(written.size() >= device_header().size());
  CHECK(std::memcmp(written.data(), device_header().data(), device_header().size()) == 0);

  const auto second = create(o);
  const auto info = second->device_info();
  CHECK(info.pipeline_cache_loaded_bytes > 0u);
  CHECK(info.pipeline_cache_loaded_bytes == written.size());
  const HostProblem p = small_problem();
  vk_test::check_against_reference(p, vk_test::run_on(*second, p));
  fs::remove(file);
}

TEST_CASE("pipeline cache: a file that is not this device's cache is ignored and replaced") {
  const std::vector<uint8_t> good = device_header();
  struct Bad {
    std::string what;
    std::vector<uint8_t> data;
  };
  std::vector<Bad> bad;
  std::vector<uint8_t> garbage(4096);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = uint8_t(i * 2654435761u >> 13);
  bad.push_back({"garbage", garbage});
  bad.push_back({"empty", {}});
  bad.push_back({"shorter than a header", std::vector<uint8_t>(good.begin(), good.begin() + 20)});
  auto changed = [&](const char* what, size_t at, uint32_t delta) {
    std::vector<uint8_t> d = good;
    d.insert(d.end(), 64, uint8_t(0x5A));  // a body, so that only the header is wrong
    put32(&d, at, uint32_t(d[at] | d[at + 1] << 8 | d[at + 2] << 16 | uint32_t(d[at + 3]) << 24) + delta);
    bad.push_back({what, d});
  };
  changed("header length beyond the file", 0, 1000);
  changed("header version 2", 4, 1);
  changed("another vendor", 8, 1);
  changed("another device", 12, 1);
  changed("another cache UUID", 16 + 12, 1);

  const HostProblem p = small_problem();
  const std::string file = temp_file("bad");
  for (const Bad& b : bad) {
    INFO(b.what);
    write_bytes(file, b.data);
    // The FP32 decode: what is tested is the file handling, the same for every decode.
    const auto ctx = create(cache_options(file, mla::vulkan::Options::CoopMat::off));
    CHECK(ctx->device_info().pipeline_cache_loaded_bytes == 0u);
    vk_test::check_against_reference(p, vk_test::run_on(*ctx, p));
    const std::vector<uint8_t> now = read_bytes(file);  // rewritten from the new cache
    REQUIRE(now.size() >= good.size());
    CHECK(std::memcmp(now.data(), good.data(), good.size()) == 0);
  }
  fs::remove(file);

  // A file that can be neither read nor written.
  const std::string nowhere = temp_file("no_such_dir") + "/cache.bin";
  const auto ctx = create(cache_options(nowhere, mla::vulkan::Options::CoopMat::off));
  CHECK(ctx->device_info().pipeline_cache_loaded_bytes == 0u);
  CHECK(!fs::exists(nowhere));
}

TEST_CASE("pipeline cache: MLA_VULKAN_PIPELINE_CACHE names the file when Options do not") {
  const std::string file = temp_file("env");
  fs::remove(file);
  const char* env = std::getenv("MLA_VULKAN_PIPELINE_CACHE");
  const std::string saved = env ? env : "";
  setenv("MLA_VULKAN_PIPELINE_CACHE", file.c_str(), 1);
  std::unique_ptr<mla::vulkan::Context> ctx;
  const mla::Status st = mla::vulkan::Context::create(cache_options("", mla::vulkan::Options::CoopMat::off), &ctx);
  if (env) setenv("MLA_VULKAN_PIPELINE_CACHE", saved.c_str(), 1);
  else unsetenv("MLA_VULKAN_PIPELINE_CACHE");
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  CHECK(ctx->device_info().pipeline_cache_file == file);
  CHECK(fs::file_size(file) >= device_header().size());
  fs::remove(file);
}
