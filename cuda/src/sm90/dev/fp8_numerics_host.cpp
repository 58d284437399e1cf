// fp8_numerics_host.cpp - a host model of the fp8-KV sm_90a kernel's
// arithmetic, to state its error before (and beside) GPU runs. No GPU
// needed; from the repository root, one line:
//   g++ -std=c++17 -O2 -Icommon/include -Itests/support -Icuda/src
//       cuda/src/sm90/dev/fp8_numerics_host.cpp cuda/src/sm90/dev/dev_fp8_problems.cpp
//       common/src/*.cpp tests/support/mla_test.cpp -o fp8_numerics && ./fp8_numerics
//
// 1. The E4M3 -> BF16 pair conversion of sm90_fp8_tile.cuh, replayed with
//    the same integer steps (byte permute, shift, multiply-add) and the BF16
//    multiply by 2^120 done exactly, against the exact value of all 256 codes.
// 2. Per query row, the kernel's order of operations: S in fp32 over k-steps
//    of 32 (content) and 16 (rope), logit factors sigma_q * scale * log2(e)
//    and sigma_k in fp32, online softmax over 64-key tiles with exp2, P
//    folded with sigma_k and rounded to BF16, V exact (BF16 of the code), O
//    in fp32, output rounded to BF16. The FP8 content dot is modelled as
//    exact products summed in fp32 ("fp32", the kernel if its MMA kept fp32),
//    and with each k-step's result kept to 13 significant bits ("13b"): a
//    pessimistic stand-in for the limited accumulator precision reported for
//    Hopper FP8 MMA; "13b/256" and "13b/128" add chains of 8 or 4 k-steps in
//    fp32 (what promoting partial sums to registers would give). Errors are
//    against the float64 reference of the library on the same inputs.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dev_fp8.h"
#include "mla/mask.h"
#include "mla/numeric.h"
#include "mla/reference.h"
#include "mla_test.h"

namespace {

using namespace mla;

float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// The device function's steps on one 32-bit word, returning the two BF16 results.
void convert_pair_model(uint32_t w, uint32_t selector, uint16_t out[2]) {
  const uint8_t bytes[8] = {uint8_t(w), uint8_t(w >> 8), uint8_t(w >> 16), uint8_t(w >> 24), 0, 0, 0, 0};
  uint32_t hi = 0;
  for (int i = 0; i < 4; ++i) hi |= uint32_t(bytes[(selector >> (4 * i)) & 7]) << (8 * i);  // prmt
  const uint32_t d = hi >> 4;
  const uint32_t bits = d + (d & 0x08000800u) * 15u;
  for (int lane = 0; lane < 2; ++lane) {
    // BF16 lane -> float (exact, subnormals included), times 2^120 (exact:
    // the result is an E4M3 value), back to BF16 (exact).
    const float v = bits_to_float((bits >> (16 * lane)) << 16) * std::ldexp(1.f, 120);
    out[lane] = float_to_bf16(v);
  }
}

// The kernel's E4M3 -> FP16 pair (sm90_fp8_tile.cuh, e4m3x2_to_f16x2): FP16
// bits of code * 2^-8, returned as floats times 2^8.
float f16_bits_to_float(uint16_t h) {
  const int e = (h >> 10) & 31, m = h & 1023;
  const float mag = e == 0 ? std::ldexp(float(m), -24) : e == 31 ? (m ? NAN : INFINITY)
                                                                 : std::ldexp(float(1024 + m), e - 25);
  return (h & 0x8000) ? -mag : mag;
}

bool check_f16_conversion_model() {
  int bad = 0;
  for (uint32_t code = 0; code < 256; ++code) {
    const uint32_t hi = code << 8;  // the prmt puts the code in the high byte of the lane
    const uint16_t bits = uint16_t((hi & 0x8000u) | ((hi >> 1) & 0x3F80u));
    const float got = f16_bits_to_float(bits) * 256.f;
    const float v = fp8_e4m3_to_float(uint8_t(code));
    const float want = std::isnan(v) ? ((code & 0x80) ? -480.f : 480.f) : v;
    bad += !(got == want && std::signbit(got) == std::signbit(want));
  }
  std::printf("%s FP16 conversion model: 256 codes, %d wrong\n", bad ? "FAIL" : "PASS", bad);
  return bad == 0;
}

bool check_conversion_model() {
  int bad = 0;
  for (uint32_t code = 0; code < 256; ++code) {
    uint16_t o[2];
    const uint32_t w = code | ((code ^ 0x55u) << 8);
    convert_pair_model(w, code & 1 ? 0x3424u : 0x1404u, o);
    const uint16_t got = code & 1 ? uint16_t(0) : o[0];
    if (code & 1) {  // same code through bytes 2 and 3
      uint16_t o2[2];
      convert_pair_model(w << 16, 0x3424u, o2);
      const float v = fp8_e4m3_to_float(uint8_t(code));
      const uint16_t want = std::isnan(v) ? float_to_bf16((code & 0x80) ? -480.f : 480.f) : float_to_bf16(v);
      bad += o2[0] != want;
      continue;
    }
    const float v = fp8_e4m3_to_float(uint8_t(code));
    const uint16_t want = std::isnan(v) ? float_to_bf16((code & 0x80) ? -480.f : 480.f) : float_to_bf16(v);
    bad += got != want;
  }
  std::printf("%s conversion model: 256 codes, %d wrong\n", bad ? "FAIL" : "PASS", bad);
  return bad == 0;
}

// Keeps `bits` significant bits of x (truncation toward zero).
float keep_bits(double x, int bits) {
  if (x == 0 || !std::isfinite(x)) return float(x);
  int e;
  std::frexp(x, &e);
  const double q = std::ldexp(1.0, e - bits);
  return float(std::trunc(x / q) * q);
}

struct Row {
  std::vector<float> content, rope;  // dequantized without sigma (codes' values), BF16 rope
  float sigma = 1.f;
};

Row read_row(RowFormat f, const uint8_t* r, float sigma) {
  Row x;
  x.sigma = sigma;
  x.content.resize(MLA_DIM_CONTENT);
  x.rope.resize(MLA_DIM_ROPE);
  for (int c = 0; c < MLA_DIM_QK; ++c) {
    float v;
    if (f == RowFormat::bf16) {
      uint16_t h;
      std::memcpy(&h, r + 2 * c, 2);
      v = bf16_to_float(h);
    } else if (c < MLA_DIM_CONTENT) {
      v = fp8_e4m3_to_float(r[c]);
    } else {
      uint16_t h;
      std::memcpy(&h, r + MLA_FP8_ROPE_BYTE_OFFSET + 2 * (c - MLA_DIM_CONTENT), 2);
      v = bf16_to_float(h);
    }
    (c < MLA_DIM_CONTENT ? x.content[c] : x.rope[c - MLA_DIM_CONTENT]) = v;
  }
  return x;
}

// One QGMMA k-step as reported for Hopper (DeepSeek-V3 report 3.5.2,
// SageAttention2): the accumulator input D keeps 13 mantissa bits (the rest
// truncated), the 32 exact products and D are aligned to the largest
// exponent among them and each keeps its highest 14 bits (`floor`: the
// sign-fill shift of a two's complement term rounds toward -inf; else
// toward zero); their sum is the new D (13 mantissa bits again).
bool g_floor = false;
double qgmma_step(double d, const double* prod, int n) {
  d = keep_bits(d, 14);
  double mx = std::fabs(d);
  for (int i = 0; i < n; ++i) mx = std::max(mx, std::fabs(prod[i]));
  if (mx == 0) return 0;
  int e;
  std::frexp(mx, &e);
  const double q = std::ldexp(1.0, e - 14);
  auto cut = [&](double x) { return (g_floor ? std::floor(x / q) : std::trunc(x / q)) * q; };
  double sum = cut(d);
  for (int i = 0; i < n; ++i) sum += cut(prod[i]);
  return keep_bits(sum, 14);
}

// The kernel's S for one (query row, key): content k-steps of 32 (fp8 Q,
// QGMMA) or 16 (bf16 Q, HGMMA), then 4 rope k-steps of 16, one fp32 accumulator.
// Content k-steps chained in one MMA accumulator before it is added into the
// fp32 total on the CUDA cores (g_promote = 16: never, the kernel's first
// version). acc_bits: 0 exact sums (fp32 result), 13 the old pessimistic
// stand-in (each step's sum kept to 13 bits), 14 the reported hardware
// behaviour above (qgmma_step).
int g_promote = 16;

float model_s(const Row& q, const Row& k, bool q_fp8, int acc_bits) {
  float total = 0.f, acc = 0.f;
  const int step = q_fp8 ? 32 : 16;
  int steps = 0;
  for (int c0 = 0; c0 < MLA_DIM_CONTENT; c0 += step) {
    double part = 0, prod[32];  // products are exact
    for (int c = c0; c < c0 + step; ++c) prod[c - c0] = double(q.content[c]) * k.content[c], part += prod[c - c0];
    if (q_fp8 && acc_bits == 14)
      acc = float(qgmma_step(acc, prod, step));
    else
      acc = (q_fp8 && acc_bits > 0) ? keep_bits(double(acc) + part, acc_bits) : float(double(acc) + part);
    if (q_fp8 && ++steps % g_promote == 0) {
      total += acc;
      acc = 0.f;
    }
  }
  acc = total + acc;
  for (int c0 = 0; c0 < MLA_DIM_ROPE; c0 += 16) {
    double part = 0;
    for (int c = c0; c < c0 + 16; ++c) part += double(q.rope[c]) * k.rope[c];
    acc = float(double(acc) + part);
  }
  return acc;
}

// P for P.V: BF16 (the first kernel) or FP16 after a per-row rescale
// (g_p_fp16; see sm90_fp8_softmax_wg.cuh).
bool g_p_fp16 = false;

// x rounded to FP16 (nearest even; subnormals below 2^-14, quantum 2^-24).
float round_fp16(float x) {
  if (x == 0 || !std::isfinite(x)) return x;
  int e;
  std::frexp(x, &e);
  const double q = std::ldexp(1.0, std::max(e - 11, -24));
  return float(std::nearbyint(double(x) / q) * q);
}

// Output rows of the whole problem, modelled (no split: the kernel's
// split-K partials add only the combine's fp32 merge).
std::vector<uint16_t> model_decode(const test::HostProblem& hp, int acc_bits) {
  const ProblemDesc& d = hp.desc;
  const bool q_fp8 = d.q_format == RowFormat::fp8_rope640;
  const float scale_log2 = float(double(d.softmax_scale) * 1.4426950408889634);
  std::vector<uint16_t> out(size_t(out_count(d)), 0);
  for (int32_t b = 0; b < d.batch; ++b) {
    const int32_t q0 = hp.q_offsets[b], q_len = hp.q_offsets[b + 1] - q0, kv_len = hp.kv_lens[b];
    std::vector<Row> keys;
    for (int32_t t = 0; t < kv_len; ++t) {
      const int64_t slot = int64_t(hp.page_table[int64_t(b) * d.max_pages + t / d.page_size]) * d.page_size +
                           t % d.page_size;
      keys.push_back(read_row(d.kv_format, &hp.kv_pool[size_t(slot) * row_bytes(d.kv_format)], hp.kv_scales[size_t(slot)]));
    }
    for (int32_t i = 0; i < q_len; ++i) {
      const KeyRange kr = visible_keys(d.mask, d.window, d.chunk, kv_len, q_len, i);
      for (int32_t h = 0; h < d.num_heads; ++h) {
        const int64_t row = (int64_t(q0) + i) * d.num_heads + h;
        const Row q = read_row(d.q_format, &hp.q[size_t(row) * row_bytes(d.q_format)], q_fp8 ? hp.q_scales[q0 + i] : 1.f);
        const float row_f = q.sigma * scale_log2;
        float m = -INFINITY, l = 0.f, r_scale = 0.f;
        std::vector<float> o(MLA_DIM_V, 0.f);
        for (int64_t k0 = kr.begin & ~int64_t(63); k0 < kr.end; k0 += 64) {
          std::vector<float> x(64, -INFINITY);
          float mx = -INFINITY;
          for (int j = 0; j < 64; ++j) {
            const int64_t k = k0 + j;
            if (k < kr.begin || k >= kr.end) continue;
            x[j] = model_s(q, keys[size_t(k)], q_fp8, acc_bits) * (row_f * keys[size_t(k)].sigma);
            mx = std::max(mx, x[j]);
          }
          const float m_new = std::max(m, mx);
          const float shift = m_new == -INFINITY ? 0.f : m_new;
          const float alpha = std::exp2(m - shift);
          m = m_new;
          float part = 0.f;
          for (float& v : o) v *= alpha;
          // FP16 P: P' = p sigma_k / R, R = max(R alpha, max of p sigma_k over the tile)
          // (O is kept here in true units: o += fp16(P') R v).
          float r_new = r_scale * alpha;
          if (g_p_fp16)
            for (int j = 0; j < 64; ++j) {
              const float p = std::exp2(x[j] - shift);
              if (p != 0.f) r_new = std::max(r_new, p * keys[size_t(k0 + j)].sigma);
            }
          r_scale = std::max(r_new, 0x1p-100f);
          for (int j = 0; j < 64; ++j) {
            const float p = std::exp2(x[j] - shift);
            part += p;
            if (p == 0.f) continue;
            const float ps = p * keys[size_t(k0 + j)].sigma;
            const float pf = g_p_fp16 ? round_fp16(ps * (1.f / r_scale)) * r_scale : bf16_to_float(float_to_bf16(ps));
            for (int c = 0; c < MLA_DIM_V; ++c) o[c] += pf * keys[size_t(k0 + j)].content[c];
          }
          l = l * alpha + part;
        }
        const float inv = l > 0.f ? 1.f / l : 0.f;
        for (int c = 0; c < MLA_DIM_V; ++c) out[size_t(row) * MLA_DIM_V + c] = float_to_bf16(o[c] * inv);
      }
    }
  }
  return out;
}

struct Case {
  std::string name;
  test::ProblemSpec spec;
  bool stress = false, all_max = false;
  int e_lo = 0, e_hi = 0;
};

struct Variant {
  const char* name;
  int bits, promote;
  bool floor;
  bool p_fp16 = false;
};

}  // namespace

int main(int argc, char** argv) {
  bool ok = check_conversion_model() && check_f16_conversion_model();
  const bool quick = argc > 1 && std::string(argv[1]) == "quick";
  std::vector<Case> cases;
  for (RowFormat qf : {RowFormat::fp8_rope640, RowFormat::bf16}) {
    const std::string pair = qf == RowFormat::bf16 ? "(bf16, fp8)" : "(fp8, fp8)";
    // The shape of the first GPU run's worst (fp8, fp8) failure, three seeds.
    for (int k = 0; k < 3; ++k) {
      Case c;
      c.spec.num_heads = 8;
      c.spec.q_format = qf;
      c.spec.kv_format = RowFormat::fp8_rope640;
      c.spec.mask = MaskKind::causal;
      c.spec.page_size = 64;
      c.spec.q_lens = {1, 3, 2, 4};
      c.spec.kv_lens = {1, 625, 687, 203};
      c.spec.seed = 1000 + k;
      c.name = pair + " B4 H8 causal s" + std::to_string(k);
      cases.push_back(c);
    }
    for (int k = 0; k < 4; ++k) {
      Case c;
      c.spec.num_heads = 16;
      c.spec.q_format = qf;
      c.spec.kv_format = RowFormat::fp8_rope640;
      c.spec.mask = k == 0 ? MaskKind::none : MaskKind::causal;
      c.spec.page_size = 32;
      c.spec.q_lens = {1, 2};
      c.spec.kv_lens = {k == 0 ? 1000 : 300, 129};
      c.spec.seed = 77 + k;
      c.name = pair + (k == 0 ? " random" : k == 1 ? " stress +-448 2^20" : k == 2 ? " stress +-448 2^-20"
                                                                                : " stress 1/4 +-448 2^+-20");
      if (k > 0) {
        c.stress = true;
        c.all_max = k < 3;
        c.e_lo = k == 1 ? 20 : -20;
        c.e_hi = k == 2 ? -20 : 20;
      }
      if (quick && k > 0) continue;
      cases.push_back(c);
    }
  }
  // fp32: exact sums; 13b: the first pessimistic model; hw: qgmma_step with
  // truncation toward zero (t) or -inf (f); /N: promoted every N k-steps.
  // P16: P.V with FP16 P (the kernel since the second change); else BF16 P.
  const Variant variants[] = {{"fp32", 0, 16, false},    {"fp32,P16", 0, 16, false, true}, {"13b", 13, 16, false},
                              {"hw-t/16", 14, 16, false}, {"hw-f/16", 14, 16, true},         {"hw-t/4", 14, 4, false},
                              {"hw-f/4", 14, 4, true},    {"hw-t/2", 14, 2, false},          {"hw-f/2", 14, 2, true},
                              {"hw-t/1", 14, 1, false},   {"hw-f/1", 14, 1, true}};
  std::printf("%-36s %-8s %12s %14s %12s %6s\n", "case", "S acc", "rel L2 max", "max|err|/rms", "err/tol max", "rows");
  for (const Case& c : cases) {
    test::HostProblem hp = test::make_problem(c.spec);
    if (c.stress) sm90_dev::stress_fp8(hp, c.spec.seed * 31 + 7, c.all_max, c.e_lo, c.e_hi);
    std::vector<float> ref_out(size_t(out_count(hp.desc))), ref_lse(size_t(lse_count(hp.desc)));
    if (!reference_decode(hp.desc, hp.data(), ref_out.data(), ref_lse.data()).ok()) return 2;
    for (const Variant& va : variants) {
      g_promote = va.promote;
      g_floor = va.floor;
      g_p_fp16 = va.p_fp16;
      if (va.bits && hp.desc.q_format != RowFormat::fp8_rope640) continue;
      const std::vector<uint16_t> out = model_decode(hp, va.bits);
      const sm90_dev::RowErrors e = sm90_dev::row_errors(hp, out.data(), ref_out);
      // The test suites' default tolerance (BF16 P.V), on the output only.
      test::Reference ref{ref_out, ref_lse};
      const test::CompareResult cr = test::compare(hp, out.data(), ref_lse.data(), ref);
      if (va.bits == 0) ok = ok && cr.max_err_over_tol <= 1;
      std::printf("%-36s %-8s %12.3e %14.3e %12.3f %6lld\n", c.name.c_str(), va.name, e.max_rel_l2,
                  e.max_abs_over_rms, cr.max_err_over_tol, static_cast<long long>(e.rows));
      std::fflush(stdout);
    }
  }
  return ok ? 0 : 1;
}
