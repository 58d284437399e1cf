// The float64 reference (mla/reference.h): an online softmax per (query, head)
// in double over the request's keys, each key row decoded once per request.
#include "mla/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "mla/mask.h"
#include "mla/numeric.h"
#include "mla/validate.h"

namespace mla {

void decode_row(RowFormat f, const void* row, float scale, double* out) {
  if (f == RowFormat::bf16) {
    const uint8_t* b = static_cast<const uint8_t*>(row);
    for (int i = 0; i < MLA_DIM_QK; ++i) {
      uint16_t h;
      std::memcpy(&h, b + 2 * i, 2);
      out[i] = bf16_to_float(h);
    }
    return;
  }
  const uint8_t* b = static_cast<const uint8_t*>(row);
  const double s = scale;
  for (int i = 0; i < MLA_DIM_CONTENT; ++i) out[i] = s * double(fp8_e4m3_to_float(b[i]));
  for (int i = 0; i < MLA_DIM_ROPE; ++i) {
    uint16_t h;
    std::memcpy(&h, b + MLA_FP8_ROPE_BYTE_OFFSET + 2 * i, 2);
    out[MLA_DIM_CONTENT + i] = s * double(bf16_to_float(h));
  }
}

namespace {

void reference_request(const ProblemDesc& d, const ProblemData& p, int32_t b, float* out, float* lse) {
  const int64_t q0 = p.q_offsets[b], q_len = int64_t(p.q_offsets[b + 1]) - q0, kv_len = p.kv_lens[b];
  const int H = d.num_heads;
  const int64_t nrows = q_len * H;
  if (nrows == 0) return;
  const int64_t qrb = row_bytes(d.q_format), kvrb = row_bytes(d.kv_format);

  std::vector<double> q(nrows * MLA_DIM_QK), acc(nrows * MLA_DIM_V, 0.0);
  std::vector<double> m(nrows, -std::numeric_limits<double>::infinity()), l(nrows, 0.0);
  std::vector<KeyRange> range(q_len);
  for (int64_t i = 0; i < q_len; ++i) {
    range[i] = visible_keys(d.mask, d.window, d.chunk, kv_len, q_len, i);
    const float sq = d.q_format == RowFormat::fp8_rope640 ? p.q_scales[q0 + i] : 1.f;
    for (int h = 0; h < H; ++h)
      decode_row(d.q_format, static_cast<const uint8_t*>(p.q) + ((q0 + i) * H + h) * qrb, sq,
                 &q[(i * H + h) * MLA_DIM_QK]);
  }
  const KeyRange all = request_keys(d.mask, d.window, d.chunk, kv_len, q_len);
  std::vector<double> k(MLA_DIM_QK);
  const double scale = d.softmax_scale;
  for (int64_t t = all.begin; t < all.end; ++t) {
    const int64_t page = p.page_table[int64_t(b) * d.max_pages + t / d.page_size];
    const int64_t slot = page * d.page_size + t % d.page_size;
    const float sk = d.kv_format == RowFormat::fp8_rope640 ? p.kv_scales[slot] : 1.f;
    decode_row(d.kv_format, static_cast<const uint8_t*>(p.kv_pool) + slot * kvrb, sk, k.data());
    for (int64_t i = 0; i < q_len; ++i) {
      if (t < range[i].begin || t >= range[i].end) continue;
      for (int h = 0; h < H; ++h) {
        const int64_t r = i * H + h;
        const double* qr = &q[r * MLA_DIM_QK];
        double s = 0;
        for (int c = 0; c < MLA_DIM_QK; ++c) s += qr[c] * k[c];
        s *= scale;
        // Online softmax; a NaN logit makes the row NaN (propagated through l and acc).
        double* a = &acc[r * MLA_DIM_V];
        if (s > m[r]) {
          const double corr = std::exp(m[r] - s);  // 0 when m was -inf
          l[r] *= corr;
          for (int c = 0; c < MLA_DIM_V; ++c) a[c] *= corr;
          m[r] = s;
        }
        // A -inf logit has weight exp(-inf) = 0 wherever it comes; exp(s - m)
        // would be NaN while m is still -inf (the row's first keys).
        const double w = s == -std::numeric_limits<double>::infinity() ? 0.0 : std::exp(s - m[r]);
        l[r] += w;
        for (int c = 0; c < MLA_DIM_V; ++c) a[c] += w * k[c];
      }
    }
  }
  for (int64_t r = 0; r < nrows; ++r) {
    float* o = out + (q0 * H + r) * MLA_DIM_V;
    if (l[r] == 0.0) {  // no visible key
      std::fill(o, o + MLA_DIM_V, 0.f);
      lse[q0 * H + r] = -std::numeric_limits<float>::infinity();
      continue;
    }
    for (int c = 0; c < MLA_DIM_V; ++c) o[c] = float(acc[r * MLA_DIM_V + c] / l[r]);
    lse[q0 * H + r] = float(m[r] + std::log(l[r]));
  }
}

}  // namespace

Status reference_decode(const ProblemDesc& d, const ProblemData& p, float* out, float* lse) {
  MLA_RETURN_IF_ERROR(validate_host_problem(d, p, out, lse));
  if (d.batch == 0) return Status::Ok();
  const int nt = std::max(1u, std::min(std::thread::hardware_concurrency(), 16u));
  std::vector<std::thread> pool;
  for (int w = 0; w < nt; ++w)
    pool.emplace_back([&, w] {
      for (int32_t b = w; b < d.batch; b += nt) reference_request(d, p, b, out, lse);
    });
  for (auto& t : pool) t.join();
  return Status::Ok();
}

}  // namespace mla
