// The comparison of tools/compare.h.
#include "compare.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace mla::tools {

namespace {

// Counts a failure; describes the first one (c < 0: the row's LSE).
void note(Agreement* a, int64_t row, int c, double got, double want, double tol) {
  ++a->bad;
  if (!a->first_bad.empty()) return;
  std::ostringstream s;
  if (c < 0) s << "lse[" << row << "]";
  else s << "out[" << row << "][" << c << "]";
  s << " = " << got << ", reference " << want << ", tolerance " << tol;
  a->first_bad = s.str();
}

}  // namespace

Agreement compare_to_reference(const ProblemDesc& d, const float* out, const float* lse, const float* ref_out,
                               const float* ref_lse, const Tolerance& tol) {
  Agreement a;
  const int64_t rows = lse_count(d);
  for (int64_t r = 0; r < rows; ++r) {
    const float* o = out + r * MLA_DIM_V;
    const float* ref = ref_out + r * MLA_DIM_V;
    double ss = 0;
    for (int c = 0; c < MLA_DIM_V; ++c)
      if (std::isfinite(ref[c])) ss += double(ref[c]) * ref[c];
    const double rms = std::sqrt(ss / MLA_DIM_V);
    for (int c = 0; c < MLA_DIM_V; ++c) {
      if (std::isnan(ref[c]) || std::isnan(o[c])) {
        if (std::isnan(ref[c]) != std::isnan(o[c])) note(&a, r, c, o[c], ref[c], 0);
        continue;
      }
      const double err = std::fabs(double(o[c]) - ref[c]), t = tol.rel * std::fabs(ref[c]) + tol.abs_rms * rms;
      a.max_abs_err = std::max(a.max_abs_err, err);
      const double q = t > 0 ? err / t : (err > 0 ? INFINITY : 0.0);
      a.max_err_over_tol = std::max(a.max_err_over_tol, q);
      if (!(q <= 1)) note(&a, r, c, o[c], ref[c], t);
    }
    const double l = lse[r], lr = ref_lse[r];
    if (!std::isfinite(lr) || !std::isfinite(l)) {
      const bool same = (std::isnan(lr) && std::isnan(l)) || (std::isinf(lr) && l == lr);
      if (!same) note(&a, r, -1, l, lr, 0);
      continue;
    }
    const double e = std::fabs(l - lr);
    a.max_lse_err = std::max(a.max_lse_err, e);
    if (!(e <= tol.lse_abs * std::max(1.0, std::fabs(lr)))) note(&a, r, -1, l, lr, tol.lse_abs * std::max(1.0, std::fabs(lr)));
  }
  return a;
}

}  // namespace mla::tools
