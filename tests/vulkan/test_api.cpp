// The two APIs at their edges: errors, empty problems, the VkBuffer API
// against the host-memory one, timing.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "device_problem.h"
#include "vk_fixture.h"

using mla::test::HostProblem;
using mla::test::ProblemSpec;

namespace {

HostProblem small_problem(mla::RowFormat q, mla::RowFormat kv) {
  ProblemSpec s;
  s.seed = vk_test::run_seed() + 60;
  s.num_heads = 20;
  s.q_format = q;
  s.kv_format = kv;
  s.mask = mla::MaskKind::causal;
  s.page_size = 16;
  s.q_lens = {1, 4, 2};
  s.kv_lens = {30, 300, 17};
  s.num_splits = 3;
  return mla::test::make_problem(s);
}

}  // namespace

TEST_CASE("api: device name and info") {
  auto& ctx = vk_test::context();
  CHECK(!ctx.device_name().empty());
  const auto info = ctx.device_info();
  CHECK(info.compute_units > 0);
  CHECK(!info.tiles.empty());
  CHECK(mla::vulkan::unavailable_reason().empty());
}

TEST_CASE("api: the host API validates before any dispatch") {
  HostProblem p = small_problem(mla::RowFormat::bf16, mla::RowFormat::bf16);
  std::vector<uint16_t> out(mla::out_count(p.desc));
  std::vector<float> lse(mla::lse_count(p.desc));
  auto& ctx = vk_test::context();

  mla::ProblemDesc d = p.desc;
  d.num_heads = 0;
  mla::Status st = ctx.decode_host(d, p.data(), out.data(), lse.data());
  CHECK(st.code() == mla::StatusCode::invalid_argument);
  CHECK(st.message().find("num_heads") != std::string::npos);

  HostProblem bad_page = p;
  bad_page.page_table[0] = bad_page.desc.num_pages;
  st = ctx.decode_host(bad_page.desc, bad_page.data(), out.data(), lse.data());
  CHECK(st.code() == mla::StatusCode::invalid_argument);
  CHECK(st.message().find("page_table") != std::string::npos);

  st = ctx.decode_host(p.desc, p.data(), nullptr, lse.data());
  CHECK(st.code() == mla::StatusCode::invalid_argument);
  vk_test::check_validation_clean();
}

TEST_CASE("api: empty batches and requests without queries") {
  auto& ctx = vk_test::context();
  mla::ProblemDesc empty;
  empty.num_heads = 16;
  empty.page_size = 16;
  empty.softmax_scale = 0.1f;
  uint32_t status = 77;
  CHECK(ctx.decode_host(empty, mla::ProblemData(), nullptr, nullptr, &status).ok());
  CHECK(status == 0u);

  ProblemSpec s;
  s.seed = vk_test::run_seed() + 61;
  s.q_lens = {0, 0};
  s.kv_lens = {10, 0};
  const HostProblem p = mla::test::make_problem(s);
  const vk_test::Result r = vk_test::run(p);
  CHECK(r.out.empty());
}

TEST_CASE("api: the VkBuffer API in a caller's command buffer equals the host API") {
  for (auto kv : {mla::RowFormat::bf16, mla::RowFormat::fp8_rope640}) {
    const HostProblem p = small_problem(mla::RowFormat::bf16, kv);
    const vk_test::Result host = vk_test::run(p);
    vk_test::check_against_reference(p, host);
    vk_test::DeviceProblem dp(vk_test::context(), p);
    const mla::Status st = dp.run();
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    vk_test::check_validation_clean();
    const auto out = dp.out();
    const auto lse = dp.lse();
    CHECK(std::memcmp(out.data(), host.out.data(), out.size() * 2) == 0);
    CHECK(std::memcmp(lse.data(), host.lse.data(), lse.size() * 4) == 0);
    CHECK(dp.status() == std::vector<uint32_t>(p.desc.batch + 1, 0u));
    // The same buffers again, back to back (the workspace is reused).
    REQUIRE(dp.run().ok());
    CHECK(std::memcmp(dp.out().data(), host.out.data(), out.size() * 2) == 0);
  }
}

TEST_CASE("api: record_decode checks the caller's buffers") {
  const HostProblem p = small_problem(mla::RowFormat::fp8_rope640, mla::RowFormat::fp8_rope640);
  vk_test::DeviceProblem dp(vk_test::context(), p);
  mla::vulkan::DeviceBuffers& b = dp.buffers();

  const auto workspace = b.workspace;
  b.workspace.size -= 4;
  mla::Status st = dp.run();
  CHECK(st.code() == mla::StatusCode::invalid_argument);
  CHECK(st.message().find("workspace") != std::string::npos);
  b.workspace = workspace;

  const auto scales = b.kv_scales;
  b.kv_scales = mla::vulkan::BufferRange{};
  st = dp.run();
  CHECK(st.code() == mla::StatusCode::invalid_argument);
  CHECK(st.message().find("kv_scales") != std::string::npos);
  b.kv_scales = scales;

  b.out.offset = 4;
  st = dp.run();
  CHECK(st.code() == mla::StatusCode::invalid_argument);
  CHECK(st.message().find("out.offset") != std::string::npos);
  b.out.offset = 0;

  b.q.size = VK_WHOLE_SIZE;
  st = dp.run();
  CHECK(st.code() == mla::StatusCode::invalid_argument);
  b.q.size = p.q.size();

  REQUIRE(dp.run().ok());
  vk_test::check_validation_clean();
}

TEST_CASE("api: kernel time from timestamps") {
  const HostProblem p = small_problem(mla::RowFormat::bf16, mla::RowFormat::bf16);
  const vk_test::Result r = vk_test::run(p);
  if (vk_test::context().device_info().timestamps) {
    CHECK(r.kernel_ms > 0);
    CHECK(r.kernel_ms < 60000);
  } else {
    CHECK(std::isnan(r.kernel_ms));
  }
}

TEST_CASE("api: the thread-layout knobs do not change a single bit") {
  // MLA_VULKAN_QK_ROWS (rows per thread in Q.K), MLA_VULKAN_QK_BATCH (keys per
  // Q.K reduction: 4 runs the two-batch path that N = 16 takes on GPUs) and
  // MLA_VULKAN_MAX_ROWS (rows per workgroup) move work between threads but
  // keep every sum in the same order, so the output must not change. The key
  // tile does change the order: it is pinned to 8 (the size of the batch-4
  // build) for every run.
  const HostProblem p = small_problem(mla::RowFormat::bf16, mla::RowFormat::fp8_rope640);
  using Knobs = std::vector<std::pair<const char*, const char*>>;
  auto run_with = [&](Knobs knobs, const char* expect_tiles) {
    knobs.push_back({"MLA_VULKAN_KEY_TILE", "8"});
    for (const auto& k : knobs) setenv(k.first, k.second, 1);
    std::unique_ptr<mla::vulkan::Context> ctx;
    mla::vulkan::Options o;
    o.validation = true;
    o.coopmat = mla::vulkan::Options::CoopMat::off;  // these knobs are the FP32 decode's
    const mla::Status st = mla::vulkan::Context::create(o, &ctx);
    for (const auto& k : knobs) unsetenv(k.first);
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    const std::string tiles = ctx->device_info().tiles;
    INFO("tiles " << tiles);
    CHECK(tiles.find(expect_tiles) != std::string::npos);
    std::vector<uint16_t> out(mla::out_count(p.desc));
    std::vector<float> lse(mla::lse_count(p.desc));
    REQUIRE(ctx->decode_host(p.desc, p.data(), out.data(), lse.data()).ok());
    CHECK(ctx->validation_messages() == 0);
    return out;
  };
  const auto base = run_with({}, "G16xN8xR2");
  CHECK(run_with({{"MLA_VULKAN_QK_ROWS", "1"}}, "G16xN8xR1") == base);
  CHECK(run_with({{"MLA_VULKAN_QK_ROWS", "1"}, {"MLA_VULKAN_QK_BATCH", "4"}}, "G16xN8xR1xB4") == base);
  CHECK(run_with({{"MLA_VULKAN_MAX_ROWS", "8"}}, "G8xN8xR1") == base);
}

namespace {
// Two contexts per decode mode, one with environment variable `var` = v[0],
// one with v[1] (restored after each context: a suite may run under either),
// must give the same bits (output, LSE, status) on problems with pages
// smaller than, equal to and larger than the key tile, offsets that start
// tiles mid-page (splits, sliding window) and both KV formats. tiles[f]:
// a substring DeviceInfo::tiles must have under v[f]. A native coopmat mode
// the device lacks is skipped.
void check_same_bits(const char* var, const char* const v[2], const char* const tiles[2],
                     std::initializer_list<mla::vulkan::Options::CoopMat> modes) {
  using mla::vulkan::Options;
  struct Config {
    int page;
    mla::RowFormat kv;
    mla::MaskKind mask;
    int splits;
  };
  const Config configs[] = {
      {64, mla::RowFormat::bf16, mla::MaskKind::causal, 0},
      {16, mla::RowFormat::fp8_rope640, mla::MaskKind::sliding_window, 3},
      {4, mla::RowFormat::bf16, mla::MaskKind::none, 2},
      {256, mla::RowFormat::fp8_rope640, mla::MaskKind::causal, 5},
  };
  const char* env = std::getenv(var);
  const std::string saved = env ? env : "";
  for (auto mode : modes) {
    std::unique_ptr<mla::vulkan::Context> ctx[2];
    bool skip = false;
    for (int f = 0; f < 2; ++f) {
      setenv(var, v[f], 1);
      Options o;
      o.validation = vk_test::validation_wanted();
      o.coopmat = mode;
      const mla::Status st = mla::vulkan::Context::create(o, &ctx[f]);
      if (env) setenv(var, saved.c_str(), 1);
      else unsetenv(var);
      if (!st.ok()) {
        REQUIRE_MESSAGE(mode == Options::CoopMat::required, st.to_string());
        MESSAGE("native coopmat not run: " << st.to_string());
        skip = true;
        break;
      }
    }
    if (skip) continue;
    for (int f = 0; f < 2; ++f) CHECK(ctx[f]->device_info().tiles.find(tiles[f]) != std::string::npos);
    for (const Config& c : configs) {
      ProblemSpec s;
      s.seed = vk_test::run_seed() + 70 + c.page;
      s.num_heads = 16;
      s.kv_format = c.kv;
      s.mask = c.mask;
      s.window = c.mask == mla::MaskKind::sliding_window ? 45 : 0;
      s.page_size = c.page;
      s.q_lens = {1, 3, 2};
      s.kv_lens = {130, 37, 200};
      s.num_splits = c.splits;
      const HostProblem p = mla::test::make_problem(s);
      INFO("tiles " << ctx[1]->device_info().tiles << ", " << p.describe());
      const vk_test::Result a = vk_test::run_on(*ctx[0], p), b = vk_test::run_on(*ctx[1], p);
      CHECK(a.status == b.status);
      CHECK(a.status == 0);
      CHECK(std::memcmp(a.out.data(), b.out.data(), a.out.size() * 2) == 0);
      CHECK(std::memcmp(a.lse.data(), b.lse.data(), a.lse.size() * 4) == 0);
    }
  }
}
}  // namespace

TEST_CASE("api: MLA_VULKAN_FETCH=run does not change a single bit") {
  // decode_common.glsl fetch_tile: "run" loads a tile that lies inside one
  // page as one run of rows (page entry loaded a tile ahead) and falls back
  // to the per-chunk lookup across pages; the words loaded are the same, so
  // output, LSE and status must be too: the FP32 and the (emulated, and
  // native where present) coopmat decode. (Bad page ids: the whole suite
  // runs with both fetches on lavapipe, run by default and
  // MLA_VULKAN_FETCH=chunk, test_device_status.cpp included.)
  using mla::vulkan::Options;
  const char* const values[2] = {"chunk", "run"};
  const char* const tiles[2] = {"fetch=chunk", "fetch=run"};
  check_same_bits("MLA_VULKAN_FETCH", values, tiles,
                  {Options::CoopMat::off, Options::CoopMat::emulate, Options::CoopMat::required});
}

TEST_CASE("api: MLA_VULKAN_CM_SCAN=fast does not change a single bit") {
  // decode_cm.comp MLA_CM_SCAN_FAST: the same tile exponents from fewer
  // instructions, so the same bits (emulated, and native where present).
  // (Non-finite and extreme values: lavapipe runs the whole suite on the
  // emulated coopmat decode with MLA_VULKAN_CM_SCAN=fast.)
  using mla::vulkan::Options;
  if (const char* f = std::getenv("MLA_VULKAN_FETCH"); f && *f && std::string(f) != "run") {
    MESSAGE("not run: the fast scan is built with the run fetch only (MLA_VULKAN_FETCH=" << f << ")");
    return;
  }
  const char* const values[2] = {"tile", "fast"};
  const char* const tiles[2] = {"fetch=run", "scan=fast"};
  check_same_bits("MLA_VULKAN_CM_SCAN", values, tiles, {Options::CoopMat::emulate, Options::CoopMat::required});
}

TEST_CASE("api: dropping the driver's bounds checks does not change a single bit") {
  // context.cpp choose_buffer_checks: without robust buffer access the
  // pipelines ask VK_EXT_pipeline_robustness for no driver bounds checks
  // where the device allows it; every access is in range by construction, so
  // the bits must be those of the pipelines with the driver's checks
  // (MLA_VULKAN_DRIVER_CHECKS=1): FP32, and native coopmat where present.
  using mla::vulkan::Options;
  const char* const values[2] = {"1", "0"};
  const char* const tiles[2] = {"", ""};
  check_same_bits("MLA_VULKAN_DRIVER_CHECKS", values, tiles, {Options::CoopMat::off, Options::CoopMat::required});
}

TEST_CASE("api: DeviceInfo::driver_buffer_checks follows the device and the options") {
  // Expected from the device's own answer, queried here: the checks go only
  // where the device has VK_EXT_pipeline_robustness and its feature, and
  // stay with robust buffer access or MLA_VULKAN_DRIVER_CHECKS=1.
  auto& ctx = vk_test::context();
  const VkPhysicalDevice phys = ctx.physical_device();
  uint32_t n = 0;
  REQUIRE(vkEnumerateDeviceExtensionProperties(phys, nullptr, &n, nullptr) == VK_SUCCESS);
  std::vector<VkExtensionProperties> exts(n);
  REQUIRE(vkEnumerateDeviceExtensionProperties(phys, nullptr, &n, exts.data()) == VK_SUCCESS);
  bool can_drop = false;
  for (const auto& e : exts)
    if (std::strcmp(e.extensionName, VK_EXT_PIPELINE_ROBUSTNESS_EXTENSION_NAME) == 0) can_drop = true;
  if (can_drop) {
    VkPhysicalDevicePipelineRobustnessFeaturesEXT pr{};
    pr.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_ROBUSTNESS_FEATURES_EXT;
    VkPhysicalDeviceFeatures2 f2{};
    f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    f2.pNext = &pr;
    vkGetPhysicalDeviceFeatures2(phys, &f2);
    can_drop = pr.pipelineRobustness == VK_TRUE;
  }
  const char* env = std::getenv("MLA_VULKAN_DRIVER_CHECKS");
  const bool kept_by_env = env && (std::strcmp(env, "1") == 0 || std::strcmp(env, "on") == 0);
  const auto info = ctx.device_info();
  MESSAGE("VK_EXT_pipeline_robustness usable: " << can_drop << ", driver buffer checks: " << info.driver_buffer_checks);
  CHECK(info.driver_buffer_checks == (!can_drop || kept_by_env || info.robust_buffer_access));
  VkPhysicalDeviceFeatures have{};
  vkGetPhysicalDeviceFeatures(phys, &have);
  if (have.robustBufferAccess) {  // robust buffer access keeps them, whatever the device offers
    std::unique_ptr<mla::vulkan::Context> robust;
    mla::vulkan::Options o;
    o.validation = vk_test::validation_wanted();
    o.coopmat = mla::vulkan::Options::CoopMat::off;
    o.robust_buffer_access = true;
    const mla::Status st = mla::vulkan::Context::create(o, &robust);
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    CHECK(robust->device_info().robust_buffer_access);
    CHECK(robust->device_info().driver_buffer_checks);
  }
  vk_test::check_validation_clean();
}

TEST_CASE("api: MLA_VULKAN_CM_WARPS=producer does not change a single bit") {
  // decode_cm.comp MLA_CM_PRODUCER (*_sx_pw1 / *_sx_pw2, decode_cm_pw.glsl):
  // 4 producer subgroups fetch, scan and stage the key tiles (into a second
  // FP16 key tile where two fit the device), the 4 consumer subgroups compute
  // exactly as the default build: the same bits against the default decode of
  // the same tile, emulated and native where present; with the N the device
  // picks and with N = 16 (MLA_VULKAN_COOPMAT_KEYS=16: where two N = 32 tiles
  // do not fit, e.g. NVIDIA's 48 KiB, two N = 16 tiles do), and with one key
  // tile forced (producer1). (Non-finite and extreme values: lavapipe runs the
  // whole emulated suite with MLA_VULKAN_CM_WARPS=producer.)
  using mla::vulkan::Options;
  if (!vk_test::default_cm_build("the producer build")) return;
  const char* keys_env = std::getenv("MLA_VULKAN_COOPMAT_KEYS");
  const std::string keys_saved = keys_env ? keys_env : "";
  for (const char* keys : {static_cast<const char*>(nullptr), "16"}) {
    if (keys) setenv("MLA_VULKAN_COOPMAT_KEYS", keys, 1);
    for (const char* producer : {"producer", "producer1"}) {
      INFO("MLA_VULKAN_COOPMAT_KEYS=" << std::string(keys ? keys : "(unset)")
                                      << " MLA_VULKAN_CM_WARPS=" << std::string(producer));
      const char* const values[2] = {"default", producer};
      const char* const tiles[2] = {"fetch=run", "warps=producer"};
      // The emulated build has N = 16 only and one key tile where the device
      // has 32 KiB (lavapipe): the first combination covers it.
      if (!keys && std::string(producer) == "producer")
        check_same_bits("MLA_VULKAN_CM_WARPS", values, tiles, {Options::CoopMat::emulate, Options::CoopMat::required});
      else
        check_same_bits("MLA_VULKAN_CM_WARPS", values, tiles, {Options::CoopMat::required});
    }
    if (keys_env) setenv("MLA_VULKAN_COOPMAT_KEYS", keys_saved.c_str(), 1);
    else unsetenv("MLA_VULKAN_COOPMAT_KEYS");
  }
}

TEST_CASE("api: MLA_VULKAN_CM_RESCALE=skip does not change a single bit") {
  // decode_cm_phases.glsl CM_PV_RESCALE: skip leaves out the multiply of O
  // by a rescale of exactly 1 (no row max moved); MLA_VULKAN_CM_RESCALE=always
  // (*_ra modules) multiplies on every tile: the same bits, emulated and
  // native where present (BF16 KV on the producer-warp build, FP8 on the
  // default one unless MLA_VULKAN_CM_WARPS says otherwise). (Maxima that move
  // in some tiles only, padded groups, NaN: "coopmat: skipping the O rescale
  // ...".) Unset = auto: skip in the one-key-tile producer build only.
  using mla::vulkan::Options;
  if (!vk_test::default_cm_build("MLA_VULKAN_CM_RESCALE=always")) return;
  const char* const values[2] = {"always", "skip"};
  const char* const tiles[2] = {"rescale=always", "scan=fast"};
  check_same_bits("MLA_VULKAN_CM_RESCALE", values, tiles, {Options::CoopMat::emulate, Options::CoopMat::required});
}

namespace {
// The clock profile is built with the run fetch only: false (and a message) under another.
bool profile_built() {
  const char* f = std::getenv("MLA_VULKAN_FETCH");
  if (!f || !*f || std::string(f) == "run") return true;
  MESSAGE("not run: the clock profile is built with the run fetch only (MLA_VULKAN_FETCH=" << std::string(f) << ")");
  return false;
}
}  // namespace

TEST_CASE("api: MLA_VULKAN_CM_PROFILE=1 does not change a single bit") {
  // decode_cm.comp MLA_CM_PROFILE (*_pf modules): shader-clock reads and
  // shared atomics around the phases of the tile loop; nothing the decode
  // computes depends on them, so the same bits (emulated, and native where
  // present; under MLA_VULKAN_CM_SCAN=fast both contexts take the fast scan).
  if (!profile_built()) return;
  const char* const values[2] = {"0", "1"};
  const char* const tiles[2] = {"fetch=run", "profile"};
  check_same_bits("MLA_VULKAN_CM_PROFILE", values, tiles,
                  {mla::vulkan::Options::CoopMat::emulate, mla::vulkan::Options::CoopMat::required});
}

TEST_CASE("api: the coopmat clock profile (MLA_VULKAN_CM_PROFILE=1)") {
  // What Context::cm_profile reports after a decode (emulated coopmat; on
  // lavapipe the clock's cycles mean little, the table is printed as the GPU
  // bench prints it), and the errors around it.
  using mla::vulkan::Options;
  if (!profile_built()) return;
  const char* env = std::getenv("MLA_VULKAN_CM_PROFILE");
  const std::string saved = env ? env : "";
  auto create = [&](const char* value, Options::CoopMat mode, std::unique_ptr<mla::vulkan::Context>* ctx) {
    if (value) setenv("MLA_VULKAN_CM_PROFILE", value, 1);
    else unsetenv("MLA_VULKAN_CM_PROFILE");
    Options o;
    o.validation = vk_test::validation_wanted();
    o.coopmat = mode;
    const mla::Status st = mla::vulkan::Context::create(o, ctx);
    if (env) setenv("MLA_VULKAN_CM_PROFILE", saved.c_str(), 1);
    else unsetenv("MLA_VULKAN_CM_PROFILE");
    return st;
  };
  std::unique_ptr<mla::vulkan::Context> ctx;
  {  // the FP32 decode has no profile: a clear error
    const mla::Status st = create("1", Options::CoopMat::off, &ctx);
    CHECK(st.code() == mla::StatusCode::invalid_argument);
    CHECK(st.message().find("MLA_VULKAN_COOPMAT") != std::string::npos);
    CHECK(create("yes", Options::CoopMat::emulate, &ctx).code() == mla::StatusCode::invalid_argument);
  }
  {  // without the variable: no profile to read
    REQUIRE(create(nullptr, Options::CoopMat::emulate, &ctx).ok());
    mla::vulkan::CmProfile prof;
    CHECK(ctx->cm_profile(&prof).code() == mla::StatusCode::invalid_argument);
    CHECK(ctx->device_info().tiles.find("profile") == std::string::npos);
  }
  // BF16 KV at H = 16: the producer-warp build where MLA_VULKAN_CM_WARPS is
  // unset (8 warps; its consumers mark S, softmax and P.V, its producers
  // stage, fetch and scan), the default main with "default" (4 warps).
  const char* warps_env = std::getenv("MLA_VULKAN_CM_WARPS");
  const std::string warps_saved = warps_env ? warps_env : "";
  for (const char* warps : {static_cast<const char*>(nullptr), "default"}) {
    INFO("MLA_VULKAN_CM_WARPS=" << std::string(warps ? warps : "(unset)"));
    if (warps) setenv("MLA_VULKAN_CM_WARPS", warps, 1);
    else unsetenv("MLA_VULKAN_CM_WARPS");
    const mla::Status st = create("1", Options::CoopMat::emulate, &ctx);
    if (warps_env) setenv("MLA_VULKAN_CM_WARPS", warps_saved.c_str(), 1);
    else unsetenv("MLA_VULKAN_CM_WARPS");
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    // The producer build exists with the fast scan only (and the run fetch: profile_built()).
    const char* scan = std::getenv("MLA_VULKAN_CM_SCAN");
    const bool fast_scan = !scan || !*scan || std::string(scan) == "fast";
    const bool producer = ctx->device_info().tiles.find("warps=producer") != std::string::npos;
    CHECK(producer == (warps == nullptr && fast_scan));
    mla::vulkan::CmProfile prof;
    CHECK(ctx->cm_profile(&prof).code() == mla::StatusCode::not_available);  // no decode yet
    ProblemSpec s;
    s.seed = vk_test::run_seed() + 90;
    s.num_heads = 16;
    s.page_size = 32;
    s.q_lens = {1, 2};
    s.kv_lens = {100, 50};
    s.num_splits = 1;
    const HostProblem p = mla::test::make_problem(s);
    const vk_test::Result r = vk_test::run_on(*ctx, p);
    CHECK(r.status == 0);
    const mla::Status ps = ctx->cm_profile(&prof);
    REQUIRE_MESSAGE(ps.ok(), ps.to_string());
    MESSAGE(ctx->device_info().tiles << "\n" << prof.table());
    CHECK(prof.warps == (producer ? 8u : 4u));  // request 0 has 16 rows: one row group (+ 4 producers)
    CHECK((prof.producer_bufs > 0) == producer);
    CHECK(prof.keys_per_tile == 16);
    CHECK(prof.tiles == (100 + 15) / 16);
    CHECK(prof.rows == 16);
    REQUIRE(prof.cycles.size() == prof.warps);
    REQUIRE(prof.phases.size() == 13);
    CHECK(prof.phases.front() == "prologue");
    CHECK(prof.phases.back() == "epilogue");
    const size_t phase_s = size_t(std::find(prof.phases.begin(), prof.phases.end(), "S = Q.K") - prof.phases.begin());
    const size_t phase_scan = size_t(std::find(prof.phases.begin(), prof.phases.end(), "exp scan") - prof.phases.begin());
    REQUIRE(phase_s < prof.phases.size());
    REQUIRE(phase_scan < prof.phases.size());
    for (size_t k = 0; k < prof.cycles.size(); ++k) {
      const auto& w = prof.cycles[k];
      REQUIRE(w.size() == prof.phases.size());
      uint64_t total = 0;
      for (uint32_t c : w) total += c;
      CHECK(total > 0);  // the clock moves
      if (producer) {  // each role marks its own slots only
        const bool consumer = k < 4;
        CHECK((w[phase_s] > 0) == consumer);
        CHECK((w[phase_scan] > 0) == !consumer);
      }
    }
    if (producer) CHECK(prof.table().find("producer build") != std::string::npos);
    CHECK(ctx->validation_messages() == 0);
  }
}
