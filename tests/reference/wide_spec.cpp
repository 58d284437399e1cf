// Random wide specs and re-laid-out copies of a problem (see wide_spec.h).
#include "wide_spec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

namespace mla::test {

namespace {

int uni(std::mt19937_64& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

int64_t work(const ProblemSpec& s) {
  int64_t w = 0;
  for (size_t b = 0; b < s.q_lens.size(); ++b) w += int64_t(s.q_lens[b]) * s.num_heads * s.kv_lens[b];
  return w;
}

// Slot of token t of request b in a problem's pool.
int64_t slot_of(const HostProblem& p, int32_t b, int64_t t) {
  const ProblemDesc& d = p.desc;
  return int64_t(p.page_table[size_t(b) * d.max_pages + size_t(t / d.page_size)]) * d.page_size + t % d.page_size;
}

// A copy of src with an empty pool of num_pages pages of page_size (NaN
// everywhere) and the page table to be filled by the caller.
HostProblem empty_copy(const HostProblem& src, int32_t page_size, int32_t num_pages, int32_t max_pages) {
  HostProblem p;
  p.desc = src.desc;
  p.q = src.q;
  p.q_scales = src.q_scales;
  p.q_offsets = src.q_offsets;
  p.kv_lens = src.kv_lens;
  p.desc.page_size = page_size;
  p.desc.num_pages = num_pages;
  p.desc.max_pages = max_pages;
  p.kv_pool.assign(size_t(kv_pool_bytes(p.desc)), 0xFF);  // NaN rows
  if (p.desc.kv_format == RowFormat::fp8_rope640)
    p.kv_scales.assign(size_t(kv_scales_count(p.desc)), std::numeric_limits<float>::quiet_NaN());
  p.page_table.assign(size_t(page_table_count(p.desc)), -1);  // columns past kv_len are garbage
  return p;
}

void copy_rows(const HostProblem& src, HostProblem* dst) {
  const int64_t rb = row_bytes(src.desc.kv_format);
  for (int32_t b = 0; b < src.desc.batch; ++b)
    for (int64_t t = 0; t < src.kv_lens[b]; ++t) {
      const int64_t from = slot_of(src, b, t), to = slot_of(*dst, b, t);
      std::memcpy(&dst->kv_pool[size_t(to * rb)], &src.kv_pool[size_t(from * rb)], size_t(rb));
      if (!src.kv_scales.empty()) dst->kv_scales[size_t(to)] = src.kv_scales[size_t(from)];
    }
}

}  // namespace

ProblemSpec wide_spec(std::mt19937_64& rng, int index, int64_t max_work) {
  static const MaskKind masks[] = {MaskKind::none, MaskKind::causal, MaskKind::sliding_window, MaskKind::chunked};
  static const RowFormat pairs[3][2] = {{RowFormat::bf16, RowFormat::bf16},
                                        {RowFormat::bf16, RowFormat::fp8_rope640},
                                        {RowFormat::fp8_rope640, RowFormat::fp8_rope640}};
  static const int heads[] = {1, 2, 8, 16, 20, 24, 32, 64, 128};
  ProblemSpec s;
  s.seed = rng();
  s.mask = masks[index % 4];
  s.q_format = pairs[index % 3][0];
  s.kv_format = pairs[index % 3][1];
  s.num_heads = uni(rng, 0, 3) == 0 ? uni(rng, 1, 128) : heads[uni(rng, 0, 8)];
  s.page_size = 1 << uni(rng, 0, 9);
  s.spare_pages = uni(rng, 0, 4);
  if (uni(rng, 0, 2) == 0) s.softmax_scale = float(std::exp(std::uniform_real_distribution<double>(-4, 1)(rng)));
  const int B = uni(rng, 1, 6);
  int max_kv = 0;
  for (int b = 0; b < B; ++b) {
    int q = uni(rng, 0, 3) == 0 ? 1 : uni(rng, 0, 16);
    int kv;
    switch (uni(rng, 0, 5)) {
      case 0: kv = 0; break;
      case 1: kv = uni(rng, 1, 8); break;
      case 2: kv = std::max(0, s.page_size * uni(rng, 1, 4) + uni(rng, -1, 1)); break;  // page edges
      default: kv = uni(rng, 1, 1500); break;
    }
    s.q_lens.push_back(q);
    s.kv_lens.push_back(kv);
    max_kv = std::max(max_kv, kv);
  }
  // Cap the work by shortening the longest request (and, last, the heads).
  while (work(s) > max_work) {
    auto it = std::max_element(s.kv_lens.begin(), s.kv_lens.end());
    if (*it > 16) *it /= 2;
    else s.num_heads = std::max(1, s.num_heads / 2);
  }
  if (s.mask != MaskKind::none)  // q_len <= kv_len under causal-family masks
    for (int b = 0; b < B; ++b) s.q_lens[b] = std::min(s.q_lens[b], s.kv_lens[b]);
  // Windows and chunks from 1 (only the diagonal) to beyond every kv_len.
  const int span = std::max(1, max_kv) + 4;
  if (s.mask == MaskKind::sliding_window) s.window = uni(rng, 0, 4) == 0 ? 1 : uni(rng, 1, span);
  if (s.mask == MaskKind::chunked) s.chunk = uni(rng, 0, 4) == 0 ? 1 << uni(rng, 0, 8) : uni(rng, 1, span);
  return s;
}

HostProblem repage(const HostProblem& src, int32_t page_size, uint64_t seed) {
  const ProblemDesc& d = src.desc;
  int32_t used = 0, max_pages = 1;
  for (int32_t b = 0; b < d.batch; ++b) {
    const int32_t n = (src.kv_lens[b] + page_size - 1) / page_size;
    used += n;
    max_pages = std::max(max_pages, n + 1);
  }
  HostProblem p = empty_copy(src, page_size, used + 2, max_pages);
  std::vector<int32_t> order(size_t(p.desc.num_pages));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  size_t next = 0;
  for (int32_t b = 0; b < d.batch; ++b)
    for (int32_t j = 0; j < (src.kv_lens[b] + page_size - 1) / page_size; ++j)
      p.page_table[size_t(b) * max_pages + j] = order[next++];
  copy_rows(src, &p);
  return p;
}

HostProblem contiguous(const HostProblem& src, int32_t slot_tokens) {
  const int32_t B = src.desc.batch;
  const ContiguousLayout l = contiguous_layout(B, slot_tokens, nullptr);
  HostProblem p = empty_copy(src, l.page_size, l.num_pages, l.max_pages);
  const ContiguousLayout again = contiguous_layout(B, slot_tokens, p.page_table.data());
  (void)again;
  // Write token t of request b where a continuous-batching cache keeps it:
  // row b * slot_tokens + t of the flat pool. The page table must agree.
  const int64_t rb = row_bytes(src.desc.kv_format);
  for (int32_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < src.kv_lens[b]; ++t) {
      const int64_t from = slot_of(src, b, t), to = int64_t(b) * slot_tokens + t;
      std::memcpy(&p.kv_pool[size_t(to * rb)], &src.kv_pool[size_t(from * rb)], size_t(rb));
      if (!src.kv_scales.empty()) p.kv_scales[size_t(to)] = src.kv_scales[size_t(from)];
    }
  return p;
}

}  // namespace mla::test
