// FP8 magnitude stress: E4M3 content at +-448 (the largest finite code) and
// per-row scales from 2^-20 to 2^20.
//
// Where the contract says the outputs are finite: for finite inputs every
// output element is a softmax-weighted average of V = sigma_k * content, so
// |o| <= 448 * 2^20 (finite in BF16), and the LSE is the largest logit plus
// at most log(kv_len); a logit is at most |scale| * 2^40 * (512 * 448^2 +
// 64 * rope^2), far inside float32 for these inputs. So every output and
// every LSE must be finite, and within the usual tolerance of the reference.
//
// Near-ties between the largest logits would make any float32 backend differ
// from the float64 reference legitimately; the cases avoid them: where every
// code is +-448 the rope is zero, so the dots are exact multiples of 448^2
// (in float32 too) and ties are exact; elsewhere values are continuous, which
// avoids float32 ties but not those of the FP8 tensor cores' Q.K (~13-14 bits
// a k32 step, mla_test.h's Tolerance): with FP8 Q, a problem whose row has its
// two largest logits within 2^-13 of its largest sum |q_c k_c| is drawn again
// (fp8_near_tie; seed 1804005028028484085 had such a row, 2^-17.4 apart at
// logits ~2.6e7, and the sm90 register-V kernels returned the runner-up's V).
// Exact ties at logits near 1e18 (every scale 2^20) run unsplit: merging
// split-K partitions through a float32 LSE (as the contract has it) cannot
// hold the log of a partition's tie count next to a logit that large
// (ulp(1e18) = 2^37), so a split would legitimately reweigh the tied keys.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>

#include "backend.h"
#include "mla/numeric.h"
#include "mla_test.h"
#include "problem_edit.h"
#include "seed.h"
#include "tally.h"

using mla::RowFormat;
using mla::test::HostProblem;

namespace {

struct Stress {
  const char* name;
  int e_lo, e_hi;       // scales 2^e, e uniform in [e_lo, e_hi] per row
  bool all_max;         // every content code +-448 (rope zeroed); else a quarter of them
  float scale_factor;   // softmax_scale = this / (max sigma_q * sigma_k), 0: the default 1/sqrt(576)
  bool unsplit;         // exact ties at huge logits: one partition (see above)
};

const Stress kCases[] = {
    {"every code +-448, every scale 2^20", 20, 20, true, 0.f, true},
    {"every code +-448, every scale 2^-20", -20, -20, true, 0.f, false},
    {"a quarter of the codes +-448, scales 2^-20..2^20", -20, 20, false, 0.f, false},
    {"a quarter of the codes +-448, scales 2^-20..2^20, logits normalised to O(10)", -20, 20, false, 1e-6f, false},
};

// Rewrites one fp8_rope640 row in place and returns its new scale.
float stress_row(std::mt19937_64& rng, uint8_t* row, const Stress& s) {
  for (int c = 0; c < MLA_DIM_CONTENT; ++c)
    if (s.all_max || rng() % 4 == 0) row[c] = (rng() & 1) ? 0x7E : 0xFE;  // +448 / -448
  if (s.all_max)
    for (int c = MLA_FP8_ROPE_BYTE_OFFSET; c < MLA_ROW_BYTES_FP8; ++c) row[c] = 0;
  const int e = s.e_lo + int(rng() % uint64_t(s.e_hi - s.e_lo + 1));
  return std::ldexp(1.f, e);
}

HostProblem stressed(std::mt19937_64& rng, RowFormat q_format, const Stress& s) {
  mla::test::ProblemSpec spec;
  spec.seed = rng();
  spec.num_heads = 16;
  spec.q_format = q_format;
  spec.kv_format = RowFormat::fp8_rope640;
  spec.mask = mla::MaskKind::causal;
  spec.page_size = 32;
  spec.q_lens = {1, 3, 2};
  spec.kv_lens = {90, 260, 33};
  HostProblem p = mla::test::make_problem(spec);
  for (int32_t b = 0; b < p.desc.batch; ++b)
    for (int64_t t = 0; t < p.kv_lens[size_t(b)]; ++t) {
      const int64_t slot = rel::kv_slot(p, b, t);
      p.kv_scales[size_t(slot)] = stress_row(rng, rel::kv_row(p, slot), s);
    }
  if (q_format == RowFormat::fp8_rope640)
    for (int64_t t = 0; t < p.desc.total_q; ++t)
      for (int32_t h = 0; h < p.desc.num_heads; ++h) {
        const float sigma = stress_row(rng, rel::q_row(p, t, h), s);
        if (h == 0) p.q_scales[size_t(t)] = sigma;  // one scale per token, shared by its heads
      }
  if (s.scale_factor != 0.f) {
    const float q_max = q_format == RowFormat::fp8_rope640 ? std::ldexp(1.f, s.e_hi) : 1.f;
    p.desc.softmax_scale = s.scale_factor / (q_max * std::ldexp(1.f, s.e_hi));
  }
  return p;
}

// Whether some query row of p (FP8 Q) has its two largest float64 logits
// within 2^-13 of its content magnitude (largest sum |q_c k_c|, as
// Tolerance::lse_fp8_acc's), where that allowance is at least 1 nat: the FP8
// tensor cores' Q.K may then rank the two keys either way, and at such logits
// the softmax is one-hot, so a kernel within its error model returns either
// key's V.
bool fp8_near_tie(const HostProblem& p) {
  const mla::test::Fp8RowLogits rows = mla::test::fp8_row_logits(p);
  for (size_t r = 0; r < rows.magnitude.size(); ++r) {
    const double allow = std::ldexp(rows.magnitude[r], -13);
    if (allow >= 1.0 && rows.top_gap[r] < allow) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("fp8 stress: content at +-448 and scales 2^-20..2^20 give finite outputs within tolerance") {
  std::mt19937_64 rng(rel::run_seed() ^ 0xF8);
  for (RowFormat q_format : {RowFormat::bf16, RowFormat::fp8_rope640})
    for (const Stress& s : kCases)
      for (int32_t splits : {0, 3}) {
        HostProblem p = stressed(rng, q_format, s);
        while (q_format == RowFormat::fp8_rope640 && !s.all_max && fp8_near_tie(p)) p = stressed(rng, q_format, s);
        p.desc.num_splits = s.unsplit ? 1 : splits;
        INFO(rel::backend().name() << ": " << std::string(s.name) << "; " << p.describe());
        const rel::Run r = rel::must_decode(p);
        int64_t bad = 0;
        for (uint16_t v : r.out) bad += !std::isfinite(mla::bf16_to_float(v));
        for (float v : r.lse) bad += !std::isfinite(v);
        CHECK_MESSAGE(bad == 0, bad << " non-finite outputs or LSEs");
        const auto c = mla::test::compare(p, r.out.data(), r.lse.data(), mla::test::run_reference(p));
        INFO("max error / tolerance " << c.max_err_over_tol << ", max LSE error " << c.max_lse_err << " ("
                                      << c.max_lse_err_over_tol << " of its tolerance)");
        MESSAGE("fp8 stress LSE error / tolerance " << c.max_lse_err_over_tol << " (" << std::string(s.name)
                                                    << ", " << mla::to_string(q_format) << " Q)");
        CHECK_MESSAGE(c.ok, c.first_failure);
        rel::count("FP8 stress", "problems at +-448 and extreme scales");
      }
}
