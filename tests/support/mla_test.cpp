// Random problems, reference runs, poison and comparison for the test suites.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "mla_test.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>

#include "mla/mask.h"
#include "mla/numeric.h"

namespace mla::test {

ProblemData HostProblem::data() const {
  ProblemData d;
  d.q = q.data();
  d.q_scales = q_scales.empty() ? nullptr : q_scales.data();
  d.kv_pool = kv_pool.data();
  d.kv_scales = kv_scales.empty() ? nullptr : kv_scales.data();
  d.page_table = page_table.data();
  d.q_offsets = q_offsets.data();
  d.kv_lens = kv_lens.data();
  return d;
}

std::string HostProblem::describe() const {
  std::ostringstream s;
  s << "B=" << desc.batch << " H=" << desc.num_heads << " q=" << to_string(desc.q_format)
    << " kv=" << to_string(desc.kv_format) << " mask=" << to_string(desc.mask);
  if (desc.mask == MaskKind::sliding_window) s << "(" << desc.window << ")";
  if (desc.mask == MaskKind::chunked) s << "(" << desc.chunk << ")";
  s << " page=" << desc.page_size << " splits=" << desc.num_splits << (desc.batch_invariant ? " invariant" : "")
    << " q_lens=[";
  for (int32_t b = 0; b < desc.batch; ++b) s << (b ? "," : "") << q_offsets[b + 1] - q_offsets[b];
  s << "] kv_lens=[";
  for (int32_t b = 0; b < desc.batch; ++b) s << (b ? "," : "") << kv_lens[b];
  s << "]";
  return s.str();
}

namespace {

// Write one random row. Logical values are ~N(0, m^2) with m log-uniform in
// [lo, hi]; FP8 rows store codes ~N(0, 64^2) and sigma = m / 64.
float fill_row(std::mt19937_64& rng, RowFormat f, uint8_t* row, float sigma, float lo, float hi, bool fp8_scale) {
  std::normal_distribution<float> n(0.f, 1.f);
  std::uniform_real_distribution<float> u(std::log(lo), std::log(hi));
  if (f == RowFormat::bf16) {
    for (int i = 0; i < MLA_DIM_QK; ++i) {
      uint16_t h = float_to_bf16(sigma * n(rng));
      std::memcpy(row + 2 * i, &h, 2);
    }
    return 1.f;
  }
  for (int i = 0; i < MLA_DIM_CONTENT; ++i) row[i] = float_to_fp8_e4m3(64.f * n(rng));
  for (int i = 0; i < MLA_DIM_ROPE; ++i) {
    uint16_t h = float_to_bf16(64.f * n(rng));
    std::memcpy(row + MLA_FP8_ROPE_BYTE_OFFSET + 2 * i, &h, 2);
  }
  (void)fp8_scale;
  return sigma * std::exp(u(rng)) / 64.f;
}

// NaN in every value of every row: E4M3 code 0x7F, BF16 0x7FC1 (a quiet NaN
// with a payload of its own).
void fill_nan_rows(RowFormat f, std::vector<uint8_t>& pool) {
  const uint8_t nan_bf16[2] = {0xC1, 0x7F};  // little-endian 0x7FC1
  const size_t rb = size_t(row_bytes(f));
  for (size_t i = 0; i < pool.size(); ++i) {
    const size_t at = i % rb;
    const bool content = f == RowFormat::fp8_rope640 && at < MLA_DIM_CONTENT;
    pool[i] = content ? 0x7F : nan_bf16[(f == RowFormat::fp8_rope640 ? at - MLA_FP8_ROPE_BYTE_OFFSET : at) % 2];
  }
}

}  // namespace

HostProblem make_problem(const ProblemSpec& s) {
  std::mt19937_64 rng(s.seed);
  HostProblem p;
  ProblemDesc& d = p.desc;
  d.batch = int32_t(s.q_lens.size());
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

  p.q_offsets.assign(d.batch + 1, 0);
  for (int32_t b = 0; b < d.batch; ++b) p.q_offsets[b + 1] = p.q_offsets[b] + s.q_lens[b];
  d.total_q = p.q_offsets[d.batch];
  p.kv_lens = s.kv_lens;

  // Pages: each request takes ceil(kv_len / P); the pool has spare pages too,
  // and pages are handed out in a shuffled order.
  int32_t used = 0, max_pages = 1;
  for (int32_t b = 0; b < d.batch; ++b) {
    int32_t n = (s.kv_lens[b] + d.page_size - 1) / d.page_size;
    used += n;
    max_pages = std::max(max_pages, n + 1);  // one more column than needed, filled with garbage
  }
  d.max_pages = max_pages;
  d.num_pages = used + s.spare_pages;
  std::vector<int32_t> order(d.num_pages);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  p.page_table.assign(int64_t(d.batch) * max_pages, 0x7fffffff);  // entries past a request's pages: garbage
  int32_t next = 0;
  for (int32_t b = 0; b < d.batch; ++b) {
    int32_t n = (s.kv_lens[b] + d.page_size - 1) / d.page_size;
    for (int32_t j = 0; j < n; ++j) p.page_table[int64_t(b) * max_pages + j] = order[next++];
  }

  const int64_t kvrb = row_bytes(d.kv_format), qrb = row_bytes(d.q_format);
  // Everything starts as NaN (free slots, spare pages), then live rows are
  // written. Not 0xFF bytes: BF16 0xFFFF is the output poison, and CPU
  // devices pass a NaN's payload through, so a NaN read from a slot would
  // look like an unwritten output.
  p.kv_pool.assign(kv_pool_bytes(d), 0x00);
  if (s.nan_in_free_slots) fill_nan_rows(d.kv_format, p.kv_pool);
  if (d.kv_format == RowFormat::fp8_rope640)
    p.kv_scales.assign(kv_scales_count(d), s.nan_in_free_slots ? std::numeric_limits<float>::quiet_NaN() : 1.f);
  for (int32_t b = 0; b < d.batch; ++b)
    for (int32_t t = 0; t < s.kv_lens[b]; ++t) {
      const int64_t slot = int64_t(p.page_table[int64_t(b) * max_pages + t / d.page_size]) * d.page_size + t % d.page_size;
      float sc = fill_row(rng, d.kv_format, &p.kv_pool[slot * kvrb], s.value_sigma, s.scale_lo, s.scale_hi, true);
      if (d.kv_format == RowFormat::fp8_rope640) p.kv_scales[slot] = sc;
    }
  p.q.assign(q_elems_bytes(d), 0);
  if (d.q_format == RowFormat::fp8_rope640) p.q_scales.assign(d.total_q, 1.f);
  for (int32_t t = 0; t < d.total_q; ++t) {
    // One scale per query token, shared by its heads.
    float sc = 1.f;
    for (int32_t h = 0; h < d.num_heads; ++h) {
      float s_h = fill_row(rng, d.q_format, &p.q[(int64_t(t) * d.num_heads + h) * qrb], s.value_sigma, s.scale_lo,
                           s.scale_hi, true);
      if (h == 0) sc = s_h;
    }
    if (d.q_format == RowFormat::fp8_rope640) p.q_scales[t] = sc;
  }
  return p;
}

namespace {

// The walk behind Reference::lse_mag and fp8_row_logits of an (fp8, fp8)
// problem (its other fields are checked by reference_decode first): per row,
// the largest sum |q_c k_c| over the content dims, and, when `gap` is set,
// the difference between its two largest logits (+inf below two keys); both
// unscaled.
void walk_fp8_rows(const HostProblem& p, std::vector<double>* mag, std::vector<double>* gap) {
  const ProblemDesc& d = p.desc;
  mag->assign(size_t(lse_count(d)), 0.0);
  if (gap) gap->assign(size_t(lse_count(d)), std::numeric_limits<double>::infinity());
  const int64_t rb = row_bytes(RowFormat::fp8_rope640);
  std::vector<double> k(MLA_DIM_QK), q, best, l1, l2;
  std::vector<KeyRange> range;
  for (int32_t b = 0; b < d.batch; ++b) {
    const int64_t q0 = p.q_offsets[size_t(b)], q_len = p.q_offsets[size_t(b) + 1] - q0, kv_len = p.kv_lens[size_t(b)];
    const int64_t nrows = q_len * d.num_heads;
    if (nrows == 0) continue;
    // The request's Q rows decoded once, then every key once (as the
    // reference walks them), against the rows that see it.
    q.assign(size_t(nrows * MLA_DIM_QK), 0.0);
    best.assign(size_t(nrows), 0.0);
    l1.assign(size_t(nrows), -std::numeric_limits<double>::infinity());
    l2.assign(size_t(nrows), -std::numeric_limits<double>::infinity());
    for (int64_t r = 0; r < nrows; ++r)
      decode_row(RowFormat::fp8_rope640, &p.q[size_t((q0 * d.num_heads + r) * rb)],
                 p.q_scales[size_t(q0 + r / d.num_heads)], &q[size_t(r * MLA_DIM_QK)]);
    range.resize(size_t(q_len));
    for (int64_t i = 0; i < q_len; ++i) range[size_t(i)] = visible_keys(d.mask, d.window, d.chunk, kv_len, q_len, i);
    const KeyRange all = request_keys(d.mask, d.window, d.chunk, kv_len, q_len);
    for (int64_t t = all.begin; t < all.end; ++t) {
      const int64_t page = p.page_table[size_t(int64_t(b) * d.max_pages + t / d.page_size)];
      const int64_t slot = page * d.page_size + t % d.page_size;
      decode_row(RowFormat::fp8_rope640, &p.kv_pool[size_t(slot * rb)], p.kv_scales[size_t(slot)], k.data());
      for (int64_t i = 0; i < q_len; ++i) {
        if (t < range[size_t(i)].begin || t >= range[size_t(i)].end) continue;
        for (int32_t h = 0; h < d.num_heads; ++h) {
          const int64_t r = i * d.num_heads + h;
          const double* qr = &q[size_t(r * MLA_DIM_QK)];
          double sum = 0;
          for (int c = 0; c < MLA_DIM_CONTENT; ++c) sum += std::fabs(qr[c] * k[size_t(c)]);
          if (!(sum <= best[size_t(r)])) best[size_t(r)] = sum;  // NaN wins: its row is NaN anyway
          if (!gap) continue;
          double dot = 0;
          for (int c = 0; c < MLA_DIM_QK; ++c) dot += qr[c] * k[size_t(c)];
          if (dot > l1[size_t(r)]) {
            l2[size_t(r)] = l1[size_t(r)];
            l1[size_t(r)] = dot;
          } else if (dot > l2[size_t(r)]) {
            l2[size_t(r)] = dot;
          }
        }
      }
    }
    for (int64_t r = 0; r < nrows; ++r) {
      (*mag)[size_t(q0 * d.num_heads + r)] = best[size_t(r)];
      if (gap && l2[size_t(r)] > -std::numeric_limits<double>::infinity())
        (*gap)[size_t(q0 * d.num_heads + r)] = l1[size_t(r)] - l2[size_t(r)];
    }
  }
}

// Reference::lse_mag of an (fp8, fp8) problem.
std::vector<float> content_magnitudes(const HostProblem& p) {
  std::vector<double> mag;
  walk_fp8_rows(p, &mag, nullptr);
  const double scale = std::fabs(double(p.desc.softmax_scale));
  std::vector<float> out(mag.size());
  for (size_t r = 0; r < mag.size(); ++r) out[r] = float(scale * mag[r]);
  return out;
}

}  // namespace

Fp8RowLogits fp8_row_logits(const HostProblem& p) {
  Fp8RowLogits f;
  walk_fp8_rows(p, &f.magnitude, &f.top_gap);
  const double scale = std::fabs(double(p.desc.softmax_scale));
  for (double& m : f.magnitude) m *= scale;
  for (double& g : f.top_gap) g *= scale;
  return f;
}

Reference run_reference(const HostProblem& p) {
  Reference r;
  r.out.assign(out_count(p.desc), 0.f);
  r.lse.assign(lse_count(p.desc), 0.f);
  Status st = reference_decode(p.desc, p.data(), r.out.data(), r.lse.data());
  INFO(p.describe());
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  if (p.desc.q_format == RowFormat::fp8_rope640 && p.desc.kv_format == RowFormat::fp8_rope640)
    r.lse_mag = content_magnitudes(p);
  return r;
}

std::vector<ProblemSpec> config_matrix(uint64_t seed, int count, int max_kv_len) {
  std::mt19937_64 rng(seed);
  auto pick = [&](auto const& v) { return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)]; };
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::vector<int> heads = {1, 8, 16, 20, 64, 128};
  const std::vector<int> pages = {1, 16, 64, 256};
  const std::vector<MaskKind> masks = {MaskKind::none, MaskKind::causal, MaskKind::sliding_window, MaskKind::chunked};
  const std::vector<std::pair<RowFormat, RowFormat>> pairs = {{RowFormat::bf16, RowFormat::bf16},
                                                              {RowFormat::bf16, RowFormat::fp8_rope640},
                                                              {RowFormat::fp8_rope640, RowFormat::fp8_rope640}};
  const std::vector<int> splits = {0, 0, 0, 1, 2, 3, 7};
  std::vector<ProblemSpec> out;
  for (int c = 0; c < count; ++c) {
    ProblemSpec s;
    s.seed = rng();
    s.num_heads = heads[c % heads.size()];  // every H appears
    s.page_size = pages[(c / heads.size()) % pages.size()];
    auto fp = pick(pairs);
    s.q_format = fp.first;
    s.kv_format = fp.second;
    s.mask = masks[c % masks.size()];
    if (s.mask == MaskKind::sliding_window) s.window = uni(1, 300);
    if (s.mask == MaskKind::chunked) s.chunk = uni(1, 300);
    s.num_splits = pick(splits);
    s.batch_invariant = uni(0, 5) == 0;
    const int B = s.num_heads >= 64 ? uni(1, 3) : uni(1, 5);
    for (int b = 0; b < B; ++b) {
      int q = uni(0, 9) == 0 ? 0 : uni(1, 4);
      int kv;
      switch (uni(0, 5)) {
        case 0: kv = 0; q = s.mask == MaskKind::none ? q : 0; break;  // empty request
        case 1: kv = uni(1, 5); break;
        case 2: kv = 64 * uni(1, 8) + pick(std::vector<int>{-1, 1, 63}); break;  // around tile edges
        default: kv = uni(1, max_kv_len); break;
      }
      if (s.mask != MaskKind::none && q > kv) q = kv;
      s.q_lens.push_back(q);
      s.kv_lens.push_back(kv);
    }
    out.push_back(s);
  }
  return out;
}

void poison(std::vector<uint16_t>& out, std::vector<float>& lse) {
  std::fill(out.begin(), out.end(), kPoisonBf16);
  float f;
  std::memcpy(&f, &kPoisonF32Bits, 4);
  std::fill(lse.begin(), lse.end(), f);
}

bool is_poison(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u == kPoisonF32Bits;
}

CompareResult compare(const HostProblem& p, const uint16_t* out, const float* lse, const Reference& ref,
                      const Tolerance& tol) {
  CompareResult r;
  const int64_t rows = lse_count(p.desc);
  auto fail = [&](const std::string& m) {
    r.ok = false;
    if (r.first_failure.empty()) r.first_failure = m;
  };
  for (int64_t row = 0; row < rows; ++row) {
    const float* rr = &ref.out[row * MLA_DIM_V];
    const uint16_t* oo = out + row * MLA_DIM_V;
    double ss = 0, e2 = 0;
    bool ref_nan = false;
    for (int c = 0; c < MLA_DIM_V; ++c) {
      // The RMS of the finite values: one NaN column (an Inf in V times a
      // zero weight) must not make the tolerance of the others NaN.
      if (std::isfinite(rr[c])) ss += double(rr[c]) * rr[c];
      ref_nan |= std::isnan(rr[c]);
    }
    const double rms = std::sqrt(ss / MLA_DIM_V);
    for (int c = 0; c < MLA_DIM_V; ++c) {
      if (oo[c] == kPoisonBf16) {
        ++r.unwritten;
        fail("out[" + std::to_string(row) + "][" + std::to_string(c) + "] was never written");
        continue;
      }
      const float o = bf16_to_float(oo[c]);
      const double ref_v = rr[c];
      if (std::isnan(ref_v) || std::isnan(o)) {
        if (std::isnan(ref_v) != std::isnan(o)) {
          ++r.bad;
          fail("out[" + std::to_string(row) + "][" + std::to_string(c) + "] = " + std::to_string(o) +
               ", reference " + std::to_string(ref_v) + " (NaN mismatch)");
        }
        continue;
      }
      const double err = std::fabs(o - ref_v), t = tol.rel * std::fabs(ref_v) + tol.abs_rms * rms;
      e2 += err * err;
      const double q = t > 0 ? err / t : (err > 0 ? INFINITY : 0);
      r.max_err_over_tol = std::max(r.max_err_over_tol, q);
      if (q > 1) {
        ++r.bad;
        fail("out[" + std::to_string(row) + "][" + std::to_string(c) + "] = " + std::to_string(o) + ", reference " +
             std::to_string(ref_v) + ", error " + std::to_string(err) + " > tolerance " + std::to_string(t));
      }
    }
    if (ss > 0 && !ref_nan) r.max_rel_l2 = std::max(r.max_rel_l2, std::sqrt(e2 / ss));
    const float l = lse[row], lr = ref.lse[row];
    if (is_poison(l)) {
      ++r.unwritten;
      fail("lse[" + std::to_string(row) + "] was never written");
    } else if (std::isinf(lr) || std::isnan(lr) || std::isinf(l) || std::isnan(l)) {
      const bool same = (std::isnan(lr) && std::isnan(l)) || (std::isinf(lr) && l == lr);
      if (!same) {
        ++r.bad;
        fail("lse[" + std::to_string(row) + "] = " + std::to_string(l) + ", reference " + std::to_string(lr));
      }
    } else {
      const double e = std::fabs(double(l) - lr);
      r.max_lse_err = std::max(r.max_lse_err, e);
      double lt = tol.lse_abs * std::max(1.0, std::fabs(double(lr)));
      if (!ref.lse_mag.empty() && std::isfinite(ref.lse_mag[size_t(row)]))
        lt += tol.lse_fp8_acc * ref.lse_mag[size_t(row)];
      r.max_lse_err_over_tol = std::max(r.max_lse_err_over_tol, e / lt);
      if (e > lt) {
        ++r.bad;
        fail("lse[" + std::to_string(row) + "] = " + std::to_string(l) + ", reference " + std::to_string(lr));
      }
    }
  }
  return r;
}

std::string UlpStats::to_string() const {
  std::ostringstream s;
  const char* names[7] = {"0", "1", "2", "3", "4-7", "8-15", "16+"};
  s << count << " values, max " << max_ulp << " ULP; histogram:";
  for (int i = 0; i < 7; ++i) s << " " << names[i] << ":" << hist[i];
  return s.str();
}

UlpStats ulp_diff(const HostProblem& p, const uint16_t* a, const uint16_t* b, double floor_frac) {
  UlpStats st;
  const int64_t rows = lse_count(p.desc);
  // Order-preserving map of BF16 bits onto integers, so ULP distance is a difference.
  auto key = [](uint16_t h) -> int64_t { return (h & 0x8000) ? -int64_t(h & 0x7fff) : int64_t(h); };
  for (int64_t row = 0; row < rows; ++row) {
    double ss = 0;
    for (int c = 0; c < MLA_DIM_V; ++c) {
      double v = bf16_to_float(a[row * MLA_DIM_V + c]);
      ss += v * v;
    }
    const float floor_v = float(floor_frac * std::sqrt(ss / MLA_DIM_V));
    // The ULP of the floor magnitude: values below the floor are compared in units of it.
    const float floor_ulp = floor_v > 0 ? std::ldexp(1.f, std::ilogb(floor_v) - 7) : 0.f;
    for (int c = 0; c < MLA_DIM_V; ++c) {
      const uint16_t x = a[row * MLA_DIM_V + c], y = b[row * MLA_DIM_V + c];
      int64_t d = std::llabs(key(x) - key(y));
      const float fx = bf16_to_float(x), fy = bf16_to_float(y);
      if (std::fabs(fx) < floor_v && std::fabs(fy) < floor_v && floor_ulp > 0)
        d = std::min<int64_t>(d, int64_t(std::ceil(std::fabs(fx - fy) / floor_ulp)));
      ++st.count;
      st.max_ulp = std::max(st.max_ulp, d);
      st.hist[d == 0 ? 0 : d == 1 ? 1 : d == 2 ? 2 : d == 3 ? 3 : d < 8 ? 4 : d < 16 ? 5 : 6]++;
    }
  }
  return st;
}

int run_suite(int argc, char** argv, const std::function<std::string()>& unavailable) {
  if (unavailable) {
    std::string why = unavailable();
    if (!why.empty()) {
      std::printf("SKIP: %s\n", why.c_str());
      return 77;
    }
  }
  doctest::Context ctx(argc, argv);
  return ctx.run();
}

}  // namespace mla::test
