// dev_fp8_problems.cpp - the host side of the FP8 parts of the sm_90a
// development harness (see dev_fp8.h): stress problems and per-row errors.
// Plain C++, shared by the GPU harness and the host numerics model.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "dev_fp8.h"
#include "mla/constants.h"
#include "mla/numeric.h"

namespace mla::sm90_dev {

namespace {

float stress_row(std::mt19937_64& rng, uint8_t* row, bool all_max, int e_lo, int e_hi) {
  for (int c = 0; c < MLA_DIM_CONTENT; ++c)
    if (all_max || rng() % 4 == 0) row[c] = (rng() & 1) ? 0x7E : 0xFE;  // +448 / -448
  if (all_max) std::memset(row + MLA_FP8_ROPE_BYTE_OFFSET, 0, MLA_ROW_BYTES_FP8 - MLA_FP8_ROPE_BYTE_OFFSET);
  return std::ldexp(1.f, e_lo + int(rng() % uint64_t(e_hi - e_lo + 1)));
}

}  // namespace

void stress_fp8(test::HostProblem& p, uint64_t seed, bool all_max, int e_lo, int e_hi) {
  std::mt19937_64 rng(seed);
  const ProblemDesc& d = p.desc;
  if (d.kv_format == RowFormat::fp8_rope640)
    for (int32_t b = 0; b < d.batch; ++b)
      for (int32_t t = 0; t < p.kv_lens[b]; ++t) {
        const int64_t slot =
            int64_t(p.page_table[int64_t(b) * d.max_pages + t / d.page_size]) * d.page_size + t % d.page_size;
        p.kv_scales[size_t(slot)] = stress_row(rng, &p.kv_pool[size_t(slot) * MLA_ROW_BYTES_FP8], all_max, e_lo, e_hi);
      }
  if (d.q_format == RowFormat::fp8_rope640)
    for (int32_t t = 0; t < d.total_q; ++t)
      for (int32_t h = 0; h < d.num_heads; ++h) {
        const float s = stress_row(rng, &p.q[(size_t(t) * d.num_heads + h) * MLA_ROW_BYTES_FP8], all_max, e_lo, e_hi);
        if (h == 0) p.q_scales[size_t(t)] = s;  // one scale per token, shared by its heads
      }
}

RowErrors row_errors(const test::HostProblem& p, const uint16_t* out, const std::vector<float>& ref_out) {
  RowErrors e;
  const int64_t rows = lse_count(p.desc);
  for (int64_t row = 0; row < rows; ++row) {
    double ss = 0, e2 = 0, emax = 0;
    bool finite = true;
    for (int c = 0; c < MLA_DIM_V; ++c) {
      const double r = ref_out[size_t(row) * MLA_DIM_V + c], o = bf16_to_float(out[row * MLA_DIM_V + c]);
      finite = finite && std::isfinite(r);
      ss += r * r;
      e2 += (o - r) * (o - r);
      emax = std::max(emax, std::fabs(o - r));
    }
    if (!finite || ss == 0) continue;
    ++e.rows;
    e.max_rel_l2 = std::max(e.max_rel_l2, std::sqrt(e2 / ss));
    e.max_abs_over_rms = std::max(e.max_abs_over_rms, emax / std::sqrt(ss / MLA_DIM_V));
  }
  return e;
}

}  // namespace mla::sm90_dev
