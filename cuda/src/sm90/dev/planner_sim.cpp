// planner_sim.cpp - prints the library planner's schedule (host mirror,
// cuda/src/planner_host.h) for the issue-5 bench shapes, and what the
// combine kernels get to do with it. No GPU needed. Build and run here:
//   g++ -std=c++17 -O1 -I common/include -I cuda/src -I /usr/local/cuda/include
//       cuda/src/sm90/dev/planner_sim.cpp -o /tmp/planner_sim && /tmp/planner_sim [sm_count]
// (bench shapes: tools/bench/bench_configs.cpp; num_parts as make_plan in cuda/src/api.cpp.)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "planner_host.h"

using namespace mla;
using namespace mla::cuda_impl;

namespace {

struct Shape {
  std::string name;
  int32_t heads, q_len;
  std::vector<int32_t> kv;
};

void show(const Shape& s, int sm_count) {
  const int32_t B = int32_t(s.kv.size()), page = 64;
  std::vector<int32_t> q_offsets(size_t(B) + 1), kv = s.kv;
  for (int32_t b = 0; b <= B; ++b) q_offsets[size_t(b)] = b * s.q_len;
  int32_t max_pages = 0;
  for (int32_t k : kv) max_pages = std::max(max_pages, (k + page - 1) / page);
  std::vector<int32_t> table(size_t(B) * size_t(max_pages));
  for (size_t i = 0; i < table.size(); ++i) table[i] = int32_t(i);
  PlannerParams p{};
  p.batch = B;
  p.num_heads = s.heads;
  p.total_q = B * s.q_len;
  p.mask = MLA_MASK_CAUSAL;
  p.page_size = page;
  p.page_shift = 6;
  p.num_pages = int32_t(table.size());
  p.max_pages = max_pages;
  p.mode = SplitMode::automatic;
  // make_plan: parts so that the average request's M tiles x parts fill the SMs.
  const int64_t avg_rows = (int64_t(p.total_q) * s.heads + B - 1) / B;
  const int64_t avg_tiles = std::max<int64_t>(1, (avg_rows + kBlockM - 1) / kBlockM);
  p.num_parts = int32_t(std::max<int64_t>(1, sm_count * kPartsPerSm / avg_tiles));
  p.max_q_len = MLA_MAX_Q_LEN;  // zero would flag every request (PlannerParams{} leaves it 0)
  p.parallel = 1;
  p.q_offsets = q_offsets.data();
  p.kv_lens = kv.data();
  p.page_table = table.data();
  const HostSchedule h = plan_on_host(p);

  std::vector<int64_t> tiles(size_t(p.num_parts), 0);
  std::vector<int32_t> items_in(size_t(p.num_parts), 0);
  for (int32_t q = 0; q < p.num_parts; ++q)
    for (int32_t i = h.part_begin[size_t(q)]; i < h.part_begin[size_t(q) + 1]; ++i) {
      const WorkItem& it = h.items[size_t(i)];
      tiles[size_t(q)] += (it.key_end - (it.key_begin & ~63) + 63) / 64;
      ++items_in[size_t(q)];
    }
  int32_t used = 0;
  for (int32_t q = 0; q < p.num_parts; ++q) used += items_in[size_t(q)] > 0;
  const int64_t tmax = *std::max_element(tiles.begin(), tiles.end());
  int64_t tsum = 0;
  for (int64_t t : tiles) tsum += t;
  const int32_t m_tiles = int32_t((std::min(p.total_q, 16) * s.heads + 63) / 64);
  std::printf("== %s: B=%d H=%d q_len=%d, %d SMs\n", s.name.c_str(), B, s.heads, s.q_len, sm_count);
  std::printf("  decode grid %d parts x %d M tiles = %d CTAs; payload %lld cost units, whole=%d\n", p.num_parts,
              m_tiles, p.num_parts * m_tiles, (long long)h.payload, int(h.whole));
  std::printf("  items %zu in %d non-empty parts; 64-key tiles per part: max %lld, mean %.2f (over used parts)\n",
              h.items.size(), used, (long long)tmax, used ? double(tsum) / used : 0.0);
  int32_t max_n = 0;
  std::string splits;
  for (int32_t b = 0; b < B; ++b) {
    max_n = std::max(max_n, h.requests[size_t(b)].num_splits);
    if (b < 8) splits += (b ? "," : "") + std::to_string(h.requests[size_t(b)].num_splits);
  }
  const double part_mb = double(h.partial_rows) * (512 * 4 + 4) / 1e6;
  std::printf("  splits per request: %s%s (max %d); split-K partial rows %lld = %.1f MB fp32 written + read\n",
              splits.c_str(), B > 8 ? ",..." : "", max_n, (long long)h.partial_rows, part_mb);
  std::printf("  legacy planner: the longest serial item loop is %d iterations (one thread writes a request's items)\n",
              max_n);

  // Combine work: bytes of partials per CTA under each kernel's grid-stride assignment.
  const int32_t count = int32_t(h.combine_list.size());
  const int64_t max_q = std::min(p.total_q, 16);
  const int32_t chunks = int32_t((max_q * s.heads + kCombineWarps - 1) / kCombineWarps);
  {
    const int64_t grid = std::max<int64_t>(1, std::min<int64_t>(int64_t(B) * chunks, int64_t(sm_count) * kCombineCtasPerSm));
    std::vector<double> per(size_t(grid), 0.0);
    for (int64_t u = 0; u < int64_t(count) * chunks; ++u) {
      const RequestInfo& r = h.requests[size_t(h.combine_list[size_t(u / chunks)])];
      const int64_t rows = int64_t(r.q_len) * s.heads, first = (u % chunks) * kCombineWarps;
      const int64_t nrows = std::max<int64_t>(0, std::min<int64_t>(kCombineWarps, rows - first));
      per[size_t(u % grid)] += double(nrows) * r.num_splits * 2052;
    }
    std::printf("  legacy combine: %d entries x %d chunks on %lld CTAs (1 a SM at 220 registers); heaviest CTA reads %.2f MB\n",
                count, chunks, (long long)grid, *std::max_element(per.begin(), per.end()) / 1e6);
  }
  {
    const int64_t total = h.combine_units.back();
    const int64_t bound = int64_t(B) * max_q * s.heads * kCombineColParts;
    const int64_t grid = std::max<int64_t>(1, std::min<int64_t>(bound, int64_t(sm_count) * kCombineDefaultCtasPerSm));
    std::vector<double> per(size_t(grid), 0.0);
    std::vector<int32_t> trips(size_t(grid), 0);
    for (int32_t e = 0; e < count; ++e) {
      const RequestInfo& r = h.requests[size_t(h.combine_list[size_t(e)])];
      const int64_t rows = int64_t(r.q_len) * s.heads;
      for (int64_t u = h.combine_units[size_t(e)]; u < h.combine_units[size_t(e) + 1]; ++u) {
        const int64_t k = u - h.combine_units[size_t(e)];
        if (r.num_splits < kCombineWideSplits) {
          const int64_t nrows = std::max<int64_t>(0, std::min<int64_t>(kCombineWarps, rows - k * kCombineWarps));
          per[size_t(u % grid)] += double(nrows) * r.num_splits * 2052;
          trips[size_t(u % grid)] += (r.num_splits + 1) / 2 + 3;
        } else {
          per[size_t(u % grid)] += double(r.num_splits) * (512 + 4);
          trips[size_t(u % grid)] +=
              (r.num_splits + kCombineWarps * kCombineWideBatch - 1) / (kCombineWarps * kCombineWideBatch) + 3;
        }
      }
    }
    std::printf("  default combine: %d entries, %lld units on %lld CTAs (%d a SM); heaviest CTA reads %.3f MB in ~%d "
                "dependent memory round trips\n",
                count, (long long)total, (long long)grid, kCombineDefaultCtasPerSm,
                *std::max_element(per.begin(), per.end()) / 1e6, *std::max_element(trips.begin(), trips.end()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int sms = argc > 1 ? std::atoi(argv[1]) : 132;
  std::vector<Shape> shapes;
  shapes.push_back({"b1_kv65536_h16_q1_p64", 16, 1, {65536}});
  shapes.push_back({"b1_kv131072_h16_q1_p64", 16, 1, {131072}});
  const std::vector<int32_t> lens = {4641, 45118, 1730, 1696};
  int64_t total = 0;
  for (int32_t k : lens) total += k;
  std::vector<int32_t> even(4);
  for (int b = 0; b < 4; ++b) even[size_t(b)] = int32_t(total / 4 + (b < total % 4 ? 1 : 0));
  shapes.push_back({"even_b4_h16_q4", 16, 4, even});
  shapes.push_back({"uneven_b4_h16_q4", 16, 4, lens});
  shapes.push_back({"b128_kv4096_h128_q1_p64", 128, 1, std::vector<int32_t>(128, 4096)});
  shapes.push_back({"b128_kv4096_h16_q1_p64", 16, 1, std::vector<int32_t>(128, 4096)});
  shapes.push_back({"b128_kv4096_h64_q2_p64", 64, 2, std::vector<int32_t>(128, 4096)});
  shapes.push_back({"b32_kv8192_h128_q1_p64", 128, 1, std::vector<int32_t>(32, 8192)});
  shapes.push_back({"b4_kv300_h16_q1_p64 (smoke)", 16, 1, std::vector<int32_t>(4, 300)});
  for (const Shape& s : shapes) show(s, sms);
  return 0;
}
