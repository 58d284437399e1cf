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
std::unique_ptr<mla::vulkan::Context> tuned_context(int key_tile, int qk_rows) {
  setenv("MLA_VULKAN_KEY_TILE", std::to_string(key_tile).c_str(), 1);
  setenv("MLA_VULKAN_QK_ROWS", std::to_string(qk_rows).c_str(), 1);
  std::unique_ptr<mla::vulkan::Context> ctx;
  const mla::Status st = mla::vulkan::Context::create(&ctx);
  unsetenv("MLA_VULKAN_KEY_TILE");
  unsetenv("MLA_VULKAN_QK_ROWS");
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
  };
  std::vector<Case> cases;  // generated once, uploaded to each tuned context
  for (auto hk : {std::make_pair(16, mla::RowFormat::bf16), std::make_pair(16, mla::RowFormat::fp8_rope640),
                  std::make_pair(128, mla::RowFormat::bf16)})
    cases.push_back(Case{hk.first, hk.second, bench_problem(hk.first, hk.second)});
  double copy_gbs = 0;
  for (const auto& cfg : {std::make_pair(16, 2), std::make_pair(16, 1), std::make_pair(8, 2), std::make_pair(8, 1)}) {
    auto ctx = tuned_context(cfg.first, cfg.second);
    const auto info = ctx->device_info();
    std::printf("\n== %s, compute units %u, tiles %s ==\n", info.name.c_str(), info.compute_units, info.tiles.c_str());
    for (Case& c : cases) {
      HostProblem& p = c.problem;
      vk_test::BenchRunner runner(*ctx, p);
      if (copy_gbs == 0) {
        const VkDeviceSize bytes = VkDeviceSize(vk_test::env_int("MLA_VULKAN_BENCH_COPY_MIB", 1024)) << 20;
        const double ms = median(runner.time_copy(bytes, reps));
        copy_gbs = 2.0 * double(bytes) / (ms * 1e6);  // read + write
        std::printf("device copy of %.0f MiB: %.3f ms, %.0f GB/s (read + write)\n", double(bytes) / (1 << 20), ms,
                    copy_gbs);
      }
      const double kv_bytes = double(p.desc.batch) * 4096 * double(mla::row_bytes(c.kv));  // each KV row read once
      std::vector<uint16_t> first;
      for (int splits : {0, 1, 2, 4, 6, 8, 12, 16}) {
        p.desc.num_splits = splits;
        const double ms = median(runner.time_decode(p.desc, reps));
        const double gbs = kv_bytes / (ms * 1e6);
        std::printf("H=%3d kv=%-11s splits=%-4s %8.3f ms  %6.0f GB/s  %5.1f%% of copy\n", c.heads, mla::to_string(c.kv),
                    splits ? std::to_string(splits).c_str() : "auto", ms, gbs, 100 * gbs / copy_gbs);
        const auto out = runner.out();
        if (first.empty()) {
          first = out;
        } else {
          const auto u = mla::test::ulp_diff(p, first.data(), out.data());
          CHECK_MESSAGE(u.max_ulp <= 4, u.to_string());
        }
      }
      p.desc.num_splits = 0;
    }
  }
}
