// The bench of issue 3 (MLA_VULKAN_BENCH=1, otherwise a no-op): B = 128,
// kv_len = 4096, q_len = 1, H = 16 and 128, BF16 (and FP8 KV at H = 16),
// kernel time from timestamps and the KV bandwidth it implies, next to the
// device-copy bandwidth measured in the same run. It also sweeps the tuning
// knobs (key tile, Q.K rows per thread, split count) and checks that they
// do not change the answer beyond rounding.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench_runner.h"
#include "vk_fixture.h"

using mla::test::HostProblem;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

HostProblem bench_problem(int heads, mla::RowFormat kv) {
  mla::test::ProblemSpec s;
  s.seed = vk_test::run_seed() + 70;
  s.num_heads = heads;
  s.kv_format = kv;
  s.page_size = 64;
  const int batch = vk_test::env_int("MLA_VULKAN_BENCH_BATCH", 128);  // smaller for a CPU smoke run
  s.q_lens.assign(batch, 1);
  s.kv_lens.assign(batch, 4096);
  s.nan_in_free_slots = false;
  s.spare_pages = 0;
  return mla::test::make_problem(s);
}

// The shapes of the bench, generated once and uploaded to every context.
struct Case {
  int heads;
  mla::RowFormat kv;
  HostProblem problem;
  std::vector<uint16_t> first_out;  // the output other runs are compared with
};
std::vector<Case> bench_cases() {
  std::vector<Case> cases;
  for (auto hk : {std::make_pair(16, mla::RowFormat::bf16), std::make_pair(16, mla::RowFormat::fp8_rope640),
                  std::make_pair(128, mla::RowFormat::bf16)})
    cases.push_back(Case{hk.first, hk.second, bench_problem(hk.first, hk.second), {}});
  return cases;
}

// Decodes back to back for at least 0.5 s before a series is timed: a GPU
// raises its clocks only under sustained load, and a context creation (seconds
// of pipeline compiles) lets them fall (an H200 timed the first decodes after
// one 5x slow; vulkan/README.md, "Clock ramp").
void warm_up(vk_test::BenchRunner& runner, const mla::ProblemDesc& desc) {
  const auto t0 = std::chrono::steady_clock::now();
  do runner.time_decode(desc, 4);
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(500));
}

VkDeviceSize copy_bytes() { return VkDeviceSize(vk_test::env_int("MLA_VULKAN_BENCH_COPY_MIB", 1024)) << 20; }

// The device-copy bandwidth (GB/s, read + write) of copy_bytes(), printed.
double device_copy(mla::vulkan::Context& ctx, int reps) {
  const VkDeviceSize bytes = copy_bytes();
  double gbs = 0;
  const mla::Status st = ctx.copy_bandwidth(bytes, reps, &gbs);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  std::printf("device copy (compute shader) of %.0f MiB: %.0f GB/s (read + write)\n", double(bytes) / (1 << 20), gbs);
  return gbs;
}

// A context built under tuning environment variables (read at pipeline
// creation). They are the FP32 decode's knobs, so the FP32 decode explicitly
// (the default is the cooperative-matrix decode where the device has it).
struct Tuning {
  int key_tile, qk_rows, max_rows;
};
std::unique_ptr<mla::vulkan::Context> tuned_context(const Tuning& t) {
  const std::pair<const char*, int> knobs[] = {
      {"MLA_VULKAN_KEY_TILE", t.key_tile}, {"MLA_VULKAN_QK_ROWS", t.qk_rows}, {"MLA_VULKAN_MAX_ROWS", t.max_rows}};
  for (const auto& k : knobs) setenv(k.first, std::to_string(k.second).c_str(), 1);
  std::unique_ptr<mla::vulkan::Context> ctx;
  mla::vulkan::Options o;
  o.coopmat = mla::vulkan::Options::CoopMat::off;
  const mla::Status st = mla::vulkan::Context::create(o, &ctx);
  for (const auto& k : knobs) unsetenv(k.first);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  return ctx;
}

}  // namespace

TEST_CASE("bench: B=128 kv_len=4096 q_len=1, H=16 and 128 (MLA_VULKAN_BENCH=1)") {
  if (vk_test::env_int("MLA_VULKAN_BENCH", 0) == 0) return;
  const int reps = vk_test::env_int("MLA_VULKAN_BENCH_REPS", 7);
  std::vector<Case> cases = bench_cases();  // first_out: the first tuning's, one split; the others must agree
  double copy_gbs = 0;
  const Tuning tunings[] = {{16, 1, 16}, {8, 1, 16}, {16, 2, 16}, {8, 2, 16}, {16, 1, 8}, {8, 1, 8}};
  for (const Tuning& t : tunings) {
    auto ctx = tuned_context(t);
    const auto info = ctx->device_info();
    std::printf("\n== %s, compute units %u, tiles %s (max rows %d) ==\n", info.name.c_str(), info.compute_units,
                info.tiles.c_str(), t.max_rows);
    if (copy_gbs == 0) {
      copy_gbs = device_copy(*ctx, reps);
      const HostProblem& p = cases.front().problem;
      vk_test::BenchRunner runner(*ctx, p);
      const double ms = median(runner.time_copy(copy_bytes(), reps));
      std::printf("vkCmdCopyBuffer of the same size: %.0f GB/s (read + write)\n", 2.0 * double(copy_bytes()) / (ms * 1e6));
    }
    for (Case& c : cases) {
      HostProblem& p = c.problem;
      vk_test::BenchRunner runner(*ctx, p);
      warm_up(runner, p.desc);
      const double kv_bytes = double(p.desc.batch) * 4096 * double(mla::row_bytes(c.kv));  // each KV row read once
      double best = 1e30;
      for (int splits : {0, 1, 2, 3, 4, 6, 8, 16}) {
        p.desc.num_splits = splits;
        const double ms = median(runner.time_decode(p.desc, reps));
        best = std::min(best, ms);
        const double gbs = kv_bytes / (ms * 1e6);
        std::printf("H=%3d kv=%-11s splits=%-4s %8.3f ms  %6.0f GB/s  %5.1f%% of copy\n", c.heads, mla::to_string(c.kv),
                    splits ? std::to_string(splits).c_str() : "auto", ms, gbs, 100 * gbs / copy_gbs);
        if (splits != 1) continue;
        const auto out = runner.out();
        if (c.first_out.empty()) {
          c.first_out = out;
        } else {
          const auto u = mla::test::ulp_diff(p, c.first_out.data(), out.data());
          CHECK_MESSAGE(u.max_ulp <= 4, u.to_string());
        }
      }
      std::printf("H=%3d kv=%-11s best %.3f ms = %.0f GB/s = %.1f%% of copy\n", c.heads, mla::to_string(c.kv), best,
                  kv_bytes / (best * 1e6), 100 * kv_bytes / (best * 1e6) / copy_gbs);
      p.desc.num_splits = 0;
    }
  }
}

TEST_CASE("bench: the cooperative-matrix decode against the FP32 one (MLA_VULKAN_BENCH=1)") {
  // The issue 3 shapes on the FP32 decode and on decode_cm.comp (N = 32 and
  // 16 where built), split counts auto, 1, 2, 4, 8, next to the device copy.
  // The coopmat output (auto split) is compared with the FP32 one in BF16
  // ULPs: both are within the reference tolerance elsewhere, this only
  // catches gross errors on the large shapes.
  if (vk_test::env_int("MLA_VULKAN_BENCH", 0) == 0) return;
  const int reps = vk_test::env_int("MLA_VULKAN_BENCH_REPS", 7);
  std::vector<Case> cases = bench_cases();  // first_out: the FP32 decode's (auto split)
  struct Variant {
    const char* name;
    mla::vulkan::Options::CoopMat mode;
    const char* keys;  // MLA_VULKAN_COOPMAT_KEYS
  };
  const Variant variants[] = {{"fp32", mla::vulkan::Options::CoopMat::off, "32"},
                              {"coopmat", mla::vulkan::Options::CoopMat::required, "32"},
                              {"coopmat N16", mla::vulkan::Options::CoopMat::required, "16"}};
  double copy_gbs = 0;
  for (const Variant& v : variants) {
    setenv("MLA_VULKAN_COOPMAT_KEYS", v.keys, 1);
    std::unique_ptr<mla::vulkan::Context> ctx;
    mla::vulkan::Options o;
    o.coopmat = v.mode;
    const mla::Status st = mla::vulkan::Context::create(o, &ctx);
    unsetenv("MLA_VULKAN_COOPMAT_KEYS");
    if (!st.ok()) {
      MESSAGE(std::string(v.name) << " not run: " << st.to_string());
      continue;
    }
    const auto info = ctx->device_info();
    std::printf("\n== %s: %s, compute units %u, decode %s, tiles %s ==\n", v.name, info.name.c_str(),
                info.compute_units, info.decode.c_str(), info.tiles.c_str());
    if (copy_gbs == 0) copy_gbs = device_copy(*ctx, reps);
    for (Case& c : cases) {
      HostProblem& p = c.problem;
      vk_test::BenchRunner runner(*ctx, p);
      warm_up(runner, p.desc);
      const double kv_bytes = double(p.desc.batch) * 4096 * double(mla::row_bytes(c.kv));
      double best = 1e30;
      for (int splits : {1, 2, 4, 8, 0}) {  // auto last: its output is compared
        p.desc.num_splits = splits;
        const double ms = median(runner.time_decode(p.desc, reps));
        best = std::min(best, ms);
        const double gbs = kv_bytes / (ms * 1e6);
        std::printf("%-12s H=%3d kv=%-11s splits=%-4s %8.3f ms  %6.0f GB/s  %5.1f%% of copy\n", v.name, c.heads,
                    mla::to_string(c.kv), splits ? std::to_string(splits).c_str() : "auto", ms, gbs,
                    100 * gbs / copy_gbs);
      }
      std::printf("%-12s H=%3d kv=%-11s best %.3f ms = %.0f GB/s = %.1f%% of copy\n", v.name, c.heads,
                  mla::to_string(c.kv), best, kv_bytes / (best * 1e6), 100 * kv_bytes / (best * 1e6) / copy_gbs);
      const auto out = runner.out();
      if (v.mode == mla::vulkan::Options::CoopMat::off) {
        c.first_out = out;
      } else if (!c.first_out.empty()) {
        const auto u = mla::test::ulp_diff(p, c.first_out.data(), out.data());
        std::printf("%-12s H=%3d kv=%-11s vs fp32: %s\n", v.name, c.heads, mla::to_string(c.kv), u.to_string().c_str());
        CHECK_MESSAGE(u.hist[0] + u.hist[1] + u.hist[2] + u.hist[3] >= u.count * 95 / 100, u.to_string());
      }
      p.desc.num_splits = 0;
    }
  }
}

namespace {

// A decode variant of the H=16 bench: a name and the environment it runs
// under (set before the context is created and kept while it is timed:
// MLA_VULKAN_SPLIT_WAVES is read when a decode is recorded).
struct EnvVariant {
  std::string name;
  std::vector<std::pair<std::string, std::string>> env;
};

// The non-empty pieces of s between `sep`s.
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= s.size()) {
    size_t end = s.find(sep, at);
    if (end == std::string::npos) end = s.size();
    if (end > at) out.push_back(s.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// MLA_VULKAN_BENCH_VARIANTS = "name:VAR=value,VAR=value;name2:..." or the
// default list: FP32 and coopmat decode with the three key-tile fetches
// (MLA_VULKAN_FETCH: run, the default; chunk, the fetch before it; none, a
// diagnostic without KV loads), the coopmat decode's two exponent scans
// (MLA_VULKAN_CM_SCAN: "cm" the tile scan, named explicitly since fast is the
// default; cm-scanfast), the producer-warp build (MLA_VULKAN_CM_WARPS: the
// default for BF16 KV; cm-warps-default without it, cm-producer for both KV formats
// with the default N, cm-producer-n16 with two N = 16 key tiles where 48 KiB
// allow, cm-n16 its default-build reference) and more workgroups per compute unit. A variant whose name ends in "-none" computes on made-up
// keys: not compared. A variant with MLA_VULKAN_CM_PROFILE=1 also prints the
// clock profile of each timed setting (not in the default list; vulkan/dev/h16_device_check.sh step cm-profile).
std::vector<EnvVariant> env_variants() {
  const char* env = std::getenv("MLA_VULKAN_BENCH_VARIANTS");
  std::string spec = env ? env : "";
  if (spec.empty())
    spec =
        "fp32:MLA_VULKAN_COOPMAT=0;"
        "fp32-chunk:MLA_VULKAN_COOPMAT=0,MLA_VULKAN_FETCH=chunk;"
        "cm:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_CM_SCAN=tile;"
        "cm-chunk:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_FETCH=chunk;"
        "cm-scanfast:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_CM_SCAN=fast;"
        "fp32-none:MLA_VULKAN_COOPMAT=0,MLA_VULKAN_FETCH=none;"
        "cm-none:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_FETCH=none;"
        "cm-n16-w2:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_CM_SCAN=tile,MLA_VULKAN_COOPMAT_KEYS=16,MLA_VULKAN_SPLIT_WAVES=2;"
        "cm-producer:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_CM_WARPS=producer;"
        "cm-warps-default:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_CM_WARPS=default;"
        "cm-n16:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_COOPMAT_KEYS=16;"
        "cm-producer-n16:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_COOPMAT_KEYS=16,MLA_VULKAN_CM_WARPS=producer";
  std::vector<EnvVariant> out;
  for (const std::string& item : split(spec, ';')) {
    const size_t colon = item.find(':');
    EnvVariant v;
    v.name = item.substr(0, colon);
    if (colon != std::string::npos)
      for (const std::string& kv : split(item.substr(colon + 1), ',')) {
        const size_t eq = kv.find('=');
        if (eq != std::string::npos) v.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
      }
    out.push_back(v);
  }
  return out;
}

}  // namespace

TEST_CASE("bench: H=16 decode variants by environment (MLA_VULKAN_BENCH=1)") {
  // B = 128, kv_len = 4096, q_len = 1: H = 16 BF16 (unless
  // MLA_VULKAN_BENCH_BF16=0), H = 16 FP8 KV (unless MLA_VULKAN_BENCH_FP8=0)
  // and, unless MLA_VULKAN_BENCH_H16_ONLY=1, H = 128 BF16, under each
  // variant of env_variants(), splits auto and 1, next to the device copy of
  // the same run. Every output (auto split) is compared with the first
  // variant's of the same decode kind in BF16 ULPs (a gross-error check: all
  // are within the reference tolerance in the other tests; the fetch
  // variants should be 0 ULP).
  if (vk_test::env_int("MLA_VULKAN_BENCH", 0) == 0) return;
  const int reps = vk_test::env_int("MLA_VULKAN_BENCH_REPS", 7);
  const bool h16_only = vk_test::env_int("MLA_VULKAN_BENCH_H16_ONLY", 0) != 0;
  std::vector<Case> cases;
  if (vk_test::env_int("MLA_VULKAN_BENCH_BF16", 1) != 0)
    cases.push_back(Case{16, mla::RowFormat::bf16, bench_problem(16, mla::RowFormat::bf16), {}});
  if (vk_test::env_int("MLA_VULKAN_BENCH_FP8", 1) != 0)
    cases.push_back(Case{16, mla::RowFormat::fp8_rope640, bench_problem(16, mla::RowFormat::fp8_rope640), {}});
  if (!h16_only) cases.push_back(Case{128, mla::RowFormat::bf16, bench_problem(128, mla::RowFormat::bf16), {}});
  // Per case and decode kind (fp32, coopmat): the first variant's output (auto split).
  std::vector<std::map<std::string, std::vector<uint16_t>>> first(cases.size());
  double copy_gbs = 0;
  for (const EnvVariant& v : env_variants()) {
    for (const auto& e : v.env) setenv(e.first.c_str(), e.second.c_str(), 1);
    std::unique_ptr<mla::vulkan::Context> ctx;
    const mla::Status st = mla::vulkan::Context::create(&ctx);
    if (!st.ok()) {
      for (const auto& e : v.env) unsetenv(e.first.c_str());
      MESSAGE(v.name << " not run: " << st.to_string());
      continue;
    }
    const auto info = ctx->device_info();
    std::printf("\n== %s: %s, decode %s, tiles %s ==\n", v.name.c_str(), info.name.c_str(), info.decode.c_str(),
                info.tiles.c_str());
    std::fflush(stdout);
    if (copy_gbs == 0) copy_gbs = device_copy(*ctx, reps);
    for (Case& c : cases) {
      HostProblem& p = c.problem;
      vk_test::BenchRunner runner(*ctx, p);
      warm_up(runner, p.desc);
      const double kv_bytes = double(p.desc.batch) * 4096 * double(mla::row_bytes(c.kv));
      for (int splits : {1, 0}) {  // auto last: its output is compared
        p.desc.num_splits = splits;
        const double ms = median(runner.time_decode(p.desc, reps));
        const double gbs = kv_bytes / (ms * 1e6);
        std::printf("variant %-16s H=%3d kv=%-11s splits=%-4s %8.3f ms  %6.0f GB/s  %5.1f%% of copy\n", v.name.c_str(),
                    c.heads, mla::to_string(c.kv), splits ? std::to_string(splits).c_str() : "auto", ms, gbs,
                    100 * gbs / copy_gbs);
        std::fflush(stdout);  // kept if a time limit ends the run
        // A clock-profile context (MLA_VULKAN_CM_PROFILE=1): workgroup 0's
        // phases in the last of these decodes (vulkan/README.md, "Clock profile").
        if (info.tiles.find(" profile") != std::string::npos) {
          mla::vulkan::CmProfile prof;
          const mla::Status ps = ctx->cm_profile(&prof);
          std::printf("variant %-16s H=%3d kv=%-11s splits=%-4s %s\n", v.name.c_str(), c.heads, mla::to_string(c.kv),
                      splits ? std::to_string(splits).c_str() : "auto",
                      ps.ok() ? prof.table().c_str() : ps.to_string().c_str());
          std::fflush(stdout);
        }
      }
      const auto out = runner.out();
      const bool diagnostic = v.name.size() >= 5 && v.name.compare(v.name.size() - 5, 5, "-none") == 0;
      if (diagnostic) {
        std::printf("variant %-16s H=%3d kv=%-11s not compared (no KV loads)\n", v.name.c_str(), c.heads,
                    mla::to_string(c.kv));
      } else if (first[&c - cases.data()][info.decode].empty()) {
        first[&c - cases.data()][info.decode] = out;
      } else {
        const auto u = mla::test::ulp_diff(p, first[&c - cases.data()][info.decode].data(), out.data());
        std::printf("variant %-16s H=%3d kv=%-11s vs first %s: %s\n", v.name.c_str(), c.heads, mla::to_string(c.kv),
                    info.decode.c_str(), u.to_string().c_str());
        CHECK_MESSAGE(u.hist[0] + u.hist[1] + u.hist[2] + u.hist[3] >= u.count * 95 / 100, v.name << ": " << u.to_string());
      }
      p.desc.num_splits = 0;
    }
    ctx.reset();
    for (const auto& e : v.env) unsetenv(e.first.c_str());
  }
}
