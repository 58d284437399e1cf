// The naive formulation of tests/reference/naive.h.
#include "naive.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "mla/mask.h"

namespace mla::test::naive {

double bf16_value(uint16_t bits) {
  const int sign = bits >> 15, exp = (bits >> 7) & 0xFF, man = bits & 0x7F;
  double mag;
  if (exp == 0xFF) mag = man ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else if (exp == 0) mag = std::ldexp(double(man), -133);  // subnormal: man/128 * 2^-126
  else mag = std::ldexp(double(128 + man), exp - 134);     // (1 + man/128) * 2^(exp-127)
  return sign ? -mag : mag;
}

double e4m3_value(uint8_t code) {
  const int sign = code >> 7, exp = (code >> 3) & 0xF, man = code & 7;
  double mag;
  if (exp == 0xF && man == 7) mag = std::numeric_limits<double>::quiet_NaN();
  else if (exp == 0) mag = std::ldexp(double(man), -9);  // subnormal: man/8 * 2^-6
  else mag = std::ldexp(double(8 + man), exp - 10);      // (1 + man/8) * 2^(exp-7)
  return sign ? -mag : mag;
}

namespace {

// The 576 stored values of a row, without its scale (the scales are applied to
// the logit and to V below, as the contract states them).
std::vector<double> raw_row(RowFormat f, const uint8_t* row) {
  std::vector<double> v(MLA_DIM_QK);
  auto bf16_at = [&](size_t byte) {
    uint16_t h = uint16_t(row[byte] | (row[byte + 1] << 8));  // little-endian
    return bf16_value(h);
  };
  if (f == RowFormat::bf16) {
    for (int c = 0; c < MLA_DIM_QK; ++c) v[c] = bf16_at(2 * c);
  } else {
    for (int c = 0; c < MLA_DIM_CONTENT; ++c) v[c] = e4m3_value(row[c]);
    for (int c = 0; c < MLA_DIM_ROPE; ++c) v[MLA_DIM_CONTENT + c] = bf16_at(MLA_FP8_ROPE_BYTE_OFFSET + 2 * c);
  }
  return v;
}

}  // namespace

Result compute(const HostProblem& p) {
  const ProblemDesc& d = p.desc;
  const int H = d.num_heads;
  Result r;
  r.out.assign(size_t(d.total_q) * H * MLA_DIM_V, 0.0);
  r.mag.assign(r.out.size(), 0.0);
  r.lse.assign(size_t(d.total_q) * H, 0.0);
  const bool fp8_q = d.q_format == RowFormat::fp8_rope640, fp8_kv = d.kv_format == RowFormat::fp8_rope640;
  for (int32_t b = 0; b < d.batch; ++b) {
    const int64_t q0 = p.q_offsets[b], q_len = p.q_offsets[b + 1] - q0, kv_len = p.kv_lens[b];
    // Every key of the request, fetched through the page table.
    std::vector<std::vector<double>> K(kv_len);
    std::vector<double> sigma_k(kv_len, 1.0);
    for (int64_t t = 0; t < kv_len; ++t) {
      const int64_t page = p.page_table[size_t(b) * d.max_pages + size_t(t / d.page_size)];
      const int64_t slot = page * d.page_size + t % d.page_size;
      K[t] = raw_row(d.kv_format, &p.kv_pool[size_t(slot * row_bytes(d.kv_format))]);
      if (fp8_kv) sigma_k[t] = p.kv_scales[slot];
    }
    // The full score matrix S[(i, h)][k], -inf where the mask hides the key.
    const double ninf = -std::numeric_limits<double>::infinity();
    std::vector<double> S(size_t(q_len) * H * kv_len, ninf);
    std::vector<char> seen(S.size(), 0);
    for (int64_t i = 0; i < q_len; ++i) {
      const int64_t pos = kv_len - q_len + i;
      const double sigma_q = fp8_q ? p.q_scales[q0 + i] : 1.0;
      for (int h = 0; h < H; ++h) {
        const auto q = raw_row(d.q_format, &p.q[size_t(((q0 + i) * H + h) * row_bytes(d.q_format))]);
        for (int64_t k = 0; k < kv_len; ++k) {
          if (!key_visible(d.mask, d.window, d.chunk, kv_len, pos, k)) continue;
          double dot = 0;
          for (int c = 0; c < MLA_DIM_QK; ++c) dot += q[c] * K[k][c];
          const size_t at = size_t((i * H + h) * kv_len + k);
          S[at] = double(d.softmax_scale) * sigma_q * sigma_k[k] * dot;
          seen[at] = 1;
        }
      }
    }
    // Two-pass softmax per row, then P.V with V = sigma_k * content.
    for (int64_t row = 0; row < q_len * H; ++row) {
      const size_t orow = size_t(q0 * H + row);
      const double* s = S.data() + row * kv_len;  // (kv_len may be 0: no element to index)
      const char* vis = seen.data() + row * kv_len;
      bool any = false, nan = false;
      double m = ninf;
      for (int64_t k = 0; k < kv_len; ++k)
        if (vis[k]) {
          any = true;
          nan |= std::isnan(s[k]);
          if (s[k] > m) m = s[k];
        }
      if (!any) {
        r.lse[orow] = ninf;  // out stays 0
        continue;
      }
      if (nan) {
        r.lse[orow] = std::numeric_limits<double>::quiet_NaN();
        for (int c = 0; c < MLA_DIM_V; ++c) r.out[orow * MLA_DIM_V + c] = r.lse[orow];
        continue;
      }
      long double sum = 0;
      for (int64_t k = 0; k < kv_len; ++k)
        if (vis[k]) sum += std::exp((long double)(s[k] - m));
      r.lse[orow] = double(m + std::log(sum));
      for (int64_t k = 0; k < kv_len; ++k) {
        if (!vis[k]) continue;
        const double w = double(std::exp((long double)(s[k] - m)) / sum);
        for (int c = 0; c < MLA_DIM_V; ++c) {
          const double v = sigma_k[k] * K[k][c];
          r.out[orow * MLA_DIM_V + c] += w * v;
          r.mag[orow * MLA_DIM_V + c] += w * std::fabs(v);
        }
      }
    }
  }
  return r;
}

int64_t count_mismatches(const HostProblem& p, const Result& n, const float* out, const float* lse,
                         std::string* first) {
  int64_t bad = 0;
  auto note = [&](size_t row, int c, double got, double want, double tol) {
    ++bad;
    if (first && first->empty()) {
      std::ostringstream s;
      s.precision(9);
      s << (c < 0 ? "lse" : "out") << "[" << row << "]";
      if (c >= 0) s << "[" << c << "]";
      s << " = " << got << ", naive " << want << ", tolerance " << tol << " (" << p.describe() << ")";
      *first = s.str();
    }
  };
  const size_t rows = n.lse.size();
  for (size_t row = 0; row < rows; ++row) {
    const double want_l = n.lse[row], got_l = lse[row];
    if (std::isnan(want_l) || std::isinf(want_l)) {
      // NaN must stay NaN; a row with no visible key is exactly -inf.
      if (!(std::isnan(want_l) ? std::isnan(got_l) : got_l == want_l)) note(row, -1, got_l, want_l, 0);
    } else {
      // float rounding of the result (2^-24 relative) plus float64 rounding of m + log(l).
      const double tol = std::ldexp(std::fabs(want_l), -22) + 1e-10;
      if (!(std::fabs(got_l - want_l) <= tol)) note(row, -1, got_l, want_l, tol);
    }
    for (int c = 0; c < MLA_DIM_V; ++c) {
      const size_t at = row * MLA_DIM_V + c;
      const double want = n.out[at], got = out[at];
      if (std::isnan(want) || std::isnan(got)) {
        if (std::isnan(want) != std::isnan(got)) note(row, c, got, want, 0);
        continue;
      }
      // float rounding (2^-24 |want|, or the subnormal step), plus the float64
      // rounding of two different summation orders, bounded by the weighted magnitude.
      const double tol = std::ldexp(std::fabs(want), -22) + std::ldexp(n.mag[at], -40) + 1e-44;
      if (!(std::fabs(got - want) <= tol)) note(row, c, got, want, tol);
    }
  }
  return bad;
}

}  // namespace mla::test::naive
