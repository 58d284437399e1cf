// The synthetic batch of tools/synthetic.h.
#include "synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "mla/numeric.h"
#include "mla/validate.h"

namespace mla::tools {

namespace {

// Normal samples at a few ns each: 64Ki precomputed N(0, 1) values picked by
// a xorshift generator. A demo batch needs tens of millions of values, which
// std::normal_distribution would take seconds to draw.
class Normal {
 public:
  explicit Normal(uint64_t seed) : table_(65536), state_(seed * 0x9E3779B97F4A7C15ull | 1) {
    std::mt19937_64 g(seed);
    std::normal_distribution<float> n;
    for (float& v : table_) v = n(g);
  }
  float next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return table_[state_ >> 48];
  }

 private:
  std::vector<float> table_;
  uint64_t state_;
};

void put_bf16(uint8_t* at, float v) {
  const uint16_t h = float_to_bf16(v);
  std::memcpy(at, &h, 2);
}

// Stores the logical row x[576] in format f. An fp8_rope640 row holds x / sigma
// (content as E4M3, rope as BF16); bf16 rows ignore sigma.
void encode_row(RowFormat f, const float* x, float sigma, uint8_t* row) {
  if (f == RowFormat::bf16) {
    for (int c = 0; c < MLA_DIM_QK; ++c) put_bf16(row + 2 * c, x[c]);
    return;
  }
  for (int c = 0; c < MLA_DIM_CONTENT; ++c) row[c] = float_to_fp8_e4m3(x[c] / sigma);
  for (int c = 0; c < MLA_DIM_ROPE; ++c) put_bf16(row + MLA_FP8_ROPE_BYTE_OFFSET + 2 * c, x[MLA_DIM_CONTENT + c] / sigma);
}

// The per-row scale a quantiser picks: the largest magnitude maps to 448.
float fp8_sigma(const float* x, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m > 0 ? m / 448.f : 1.f;
}

}  // namespace

Status make_synthetic(const SyntheticSpec& s, OwnedProblem* out) {
  OwnedProblem p;
  ProblemDesc& d = p.desc;
  d.batch = s.batch;
  d.num_heads = s.num_heads;
  d.q_format = s.q_format;
  d.kv_format = s.kv_format;
  d.mask = s.mask;
  d.window = s.window;
  d.chunk = s.chunk;
  d.softmax_scale = s.softmax_scale != 0.f ? s.softmax_scale : 1.f / std::sqrt(float(MLA_DIM_QK));
  d.page_size = s.page_size;
  d.num_splits = s.num_splits;
  d.batch_invariant = s.batch_invariant;
  if (s.q_len_min < 0 || s.q_len_max < s.q_len_min)
    return invalid_argument("q_len range [" + std::to_string(s.q_len_min) + ", " + std::to_string(s.q_len_max) + "] is empty or negative");
  if (s.kv_len_min < 0 || s.kv_len_max < s.kv_len_min)
    return invalid_argument("kv_len range [" + std::to_string(s.kv_len_min) + ", " + std::to_string(s.kv_len_max) + "] is empty or negative");
  // Checked before sizing anything from the spec.
  d.total_q = 0;
  MLA_RETURN_IF_ERROR(validate_desc(d));

  std::mt19937_64 rng(s.seed);
  auto uni = [&](int32_t lo, int32_t hi) { return std::uniform_int_distribution<int32_t>(lo, hi)(rng); };
  p.q_offsets.assign(size_t(d.batch) + 1, 0);
  p.kv_lens.resize(size_t(d.batch));
  int64_t pages_used = 0;
  int32_t max_pages = 0;
  for (int32_t b = 0; b < d.batch; ++b) {
    const int32_t kv = uni(s.kv_len_min, s.kv_len_max);
    int32_t q = uni(s.q_len_min, s.q_len_max);
    if (d.mask != MaskKind::none) q = std::min(q, kv);
    p.kv_lens[size_t(b)] = kv;
    p.q_offsets[size_t(b) + 1] = p.q_offsets[size_t(b)] + q;
    const int32_t pages = (kv + d.page_size - 1) / d.page_size;
    pages_used += pages;
    max_pages = std::max(max_pages, pages);
  }
  d.total_q = p.q_offsets.back();
  d.max_pages = max_pages;
  const int64_t spare = 4;  // pool pages nobody uses, full of NaN
  if (pages_used + spare > INT32_MAX) return invalid_argument("the batch needs more than 2^31 - 1 pages");
  d.num_pages = int32_t(pages_used + spare);
  MLA_RETURN_IF_ERROR(validate_desc(d));

  // Pages handed out in a shuffled order, as an allocator that has run a while would.
  std::vector<int32_t> order(size_t(d.num_pages));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  p.page_table.assign(size_t(page_table_count(d)), -1);  // columns past a request's pages: never read
  size_t next = 0;
  for (int32_t b = 0; b < d.batch; ++b)
    for (int32_t j = 0; j < (p.kv_lens[size_t(b)] + d.page_size - 1) / d.page_size; ++j)
      p.page_table[size_t(b) * size_t(max_pages) + size_t(j)] = order[next++];

  Normal normal(s.seed ^ 0x5eed);
  std::vector<float> x(size_t(MLA_DIM_QK) * size_t(d.num_heads));
  const int64_t kvrb = row_bytes(d.kv_format), qrb = row_bytes(d.q_format);
  const bool fp8_kv = d.kv_format == RowFormat::fp8_rope640, fp8_q = d.q_format == RowFormat::fp8_rope640;
  p.kv_pool.assign(size_t(kv_pool_bytes(d)), 0xFF);  // NaN in every free slot
  if (fp8_kv) p.kv_scales.assign(size_t(kv_scales_count(d)), std::numeric_limits<float>::quiet_NaN());
  for (int32_t b = 0; b < d.batch; ++b)
    for (int32_t t = 0; t < p.kv_lens[size_t(b)]; ++t) {
      const int64_t slot =
          int64_t(p.page_table[size_t(b) * size_t(max_pages) + size_t(t / d.page_size)]) * d.page_size + t % d.page_size;
      for (int c = 0; c < MLA_DIM_QK; ++c) x[size_t(c)] = normal.next();
      const float sigma = fp8_kv ? fp8_sigma(x.data(), MLA_DIM_QK) : 1.f;
      encode_row(d.kv_format, x.data(), sigma, &p.kv_pool[size_t(slot * kvrb)]);
      if (fp8_kv) p.kv_scales[size_t(slot)] = sigma;
    }
  p.q.assign(size_t(q_elems_bytes(d)), 0);
  if (fp8_q) p.q_scales.resize(size_t(d.total_q));
  for (int32_t t = 0; t < d.total_q; ++t) {
    for (float& v : x) v = normal.next();
    const float sigma = fp8_q ? fp8_sigma(x.data(), x.size()) : 1.f;  // one scale per token, shared by its heads
    for (int32_t h = 0; h < d.num_heads; ++h)
      encode_row(d.q_format, &x[size_t(h) * MLA_DIM_QK], sigma, &p.q[size_t((int64_t(t) * d.num_heads + h) * qrb)]);
    if (fp8_q) p.q_scales[size_t(t)] = sigma;
  }
  MLA_RETURN_IF_ERROR(validate_metadata(d, p.q_offsets.data(), p.kv_lens.data(), p.page_table.data()));
  *out = std::move(p);
  return Status::Ok();
}

}  // namespace mla::tools
