// Descs and (by default shuffled) page tables of the rotation sets (bench_problem.h).
#include "bench_problem.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace mla::tools::bench {

int64_t pages_per_set(const BenchConfig& c) {
  int64_t n = 0;
  for (int32_t kv : c.kv_lens) n += (int64_t(kv) + c.page_size - 1) / c.page_size;
  return n;
}

ProblemDesc describe(const BenchConfig& c, int32_t num_sets) {
  ProblemDesc d;
  d.batch = c.batch;
  d.num_heads = c.num_heads;
  d.total_q = c.batch * c.q_len;
  d.q_format = c.q_format;
  d.kv_format = c.kv_format;
  d.mask = c.mask;
  d.window = c.window;
  d.chunk = c.chunk;
  d.softmax_scale = float(1.0 / std::sqrt(double(MLA_DIM_QK)));
  d.page_size = c.page_size;
  d.num_pages = int32_t(pages_per_set(c) * num_sets);
  int32_t longest = 0;
  for (int32_t kv : c.kv_lens) longest = std::max(longest, kv);
  d.max_pages = (longest + c.page_size - 1) / c.page_size;
  return d;
}

std::vector<SetMetadata> make_metadata(const BenchConfig& c, const ProblemDesc& d, int32_t num_sets, uint64_t seed) {
  std::vector<int32_t> perm(size_t(d.num_pages));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(seed);
  if (!c.sequential_pages) std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<SetMetadata> sets(static_cast<size_t>(num_sets));
  size_t next = 0;
  for (SetMetadata& m : sets) {
    m.page_table.assign(size_t(d.batch) * size_t(d.max_pages), 0);
    m.kv_lens = c.kv_lens;
    m.q_offsets.resize(size_t(d.batch) + 1);
    for (int32_t b = 0; b <= d.batch; ++b) m.q_offsets[size_t(b)] = b * c.q_len;
    for (int32_t b = 0; b < d.batch; ++b) {
      const int64_t used = (int64_t(c.kv_lens[size_t(b)]) + c.page_size - 1) / c.page_size;
      for (int64_t j = 0; j < used; ++j) m.page_table[size_t(b) * size_t(d.max_pages) + size_t(j)] = perm[next++];
    }
  }
  return sets;
}

}  // namespace mla::tools::bench
