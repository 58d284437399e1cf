// The bench of issue 3 (MLA_VULKAN_BENCH=1, otherwise a no-op): B = 128,
// kv_len = 4096, q_len = 1, H = 16 and 128, BF16 (and FP8 KV at H = 16),
// kernel time from timestamps and the KV bandwidth it implies, next to the
// device-copy bandwidth measured in the same run. It also sweeps the tuning
// knobs (key tile, Q.K rows per thread, split count) and checks that they
// do not change the answer beyond rounding.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

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

// A context built under tuning environment variables (read at pipeline creation).
struct Tuning {
  int key_tile, qk_rows, max_rows;
};
std::unique_ptr<mla::vulkan::Context> tuned_context(const Tuning& t) {
  const std::pair<const char*, int> knobs[] = {
      {"MLA_VULKAN_KEY_TILE", t.key_tile}, {"MLA_VULKAN_QK_ROWS", t.qk_rows}, {"MLA_VULKAN_MAX_ROWS", t.max_rows}};
  for (const auto& k : knobs) setenv(k.first, std::to_string(k.second).c_str(), 1);
  std::unique_ptr<mla::vulkan::Context> ctx;
  const mla::Status st = mla::vulkan::Context::create(&ctx);
  for (const auto& k : knobs) unsetenv(k.first);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  return ctx;
}

}  // namespace

TEST_CASE("bench: B=128 kv_len=4096 q_len=1, H=16 and 128 (MLA_VULKAN_BENCH=1)") {
  if (vk_test::env_int("MLA_VULKAN_BENCH", 0) == 0) return;
  const int reps = vk_test::env_int("MLA_VULKAN_BENCH_REPS", 7);
  struct Case {
    int heads;
    mla::RowFormat kv;
    HostProblem problem;
    std::vector<uint16_t> first_out;  // of the first tuning, one split: the others must agree
  };
  std::vector<Case> cases;  // generated once, uploaded to each tuned context
  for (auto hk : {std::make_pair(16, mla::RowFormat::bf16), std::make_pair(16, mla::RowFormat::fp8_rope640),
                  std::make_pair(128, mla::RowFormat::bf16)})
    cases.push_back(Case{hk.first, hk.second, bench_problem(hk.first, hk.second), {}});
  double copy_gbs = 0;
  const Tuning tunings[] = {{16, 1, 16}, {8, 1, 16}, {16, 2, 16}, {8, 2, 16}, {16, 1, 8}, {8, 1, 8}};
  for (const Tuning& t : tunings) {
    auto ctx = tuned_context(t);
    const auto info = ctx->device_info();
    std::printf("\n== %s, compute units %u, tiles %s (max rows %d) ==\n", info.name.c_str(), info.compute_units,
                info.tiles.c_str(), t.max_rows);
    if (copy_gbs == 0) {
      const VkDeviceSize bytes = VkDeviceSize(vk_test::env_int("MLA_VULKAN_BENCH_COPY_MIB", 1024)) << 20;
      const mla::Status st = ctx->copy_bandwidth(bytes, reps, &copy_gbs);
      REQUIRE_MESSAGE(st.ok(), st.to_string());
      std::printf("device copy (compute shader) of %.0f MiB: %.0f GB/s (read + write)\n", double(bytes) / (1 << 20),
                  copy_gbs);
      const HostProblem& p = cases.front().problem;
      vk_test::BenchRunner runner(*ctx, p);
      const double ms = median(runner.time_copy(bytes, reps));
      std::printf("vkCmdCopyBuffer of the same size: %.0f GB/s (read + write)\n", 2.0 * double(bytes) / (ms * 1e6));
    }
    for (Case& c : cases) {
      HostProblem& p = c.problem;
      vk_test::BenchRunner runner(*ctx, p);
      runner.time_decode(p.desc, 2);  // warm-up: clocks and caches
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
