// tools/compare.h - how close a backend's result is to the float64 reference,
// with the tolerance the test suites state (tests/support/mla_test.h):
//   per element  |o - r| <= rel * |r| + abs_rms * rms(reference row)
//   per LSE      |l - r| <= lse_abs * max(1, |r|)
// NaN must meet NaN, and -inf LSE (no visible key) must be -inf with zeros.
#pragma once

#include <cstdint>
#include <string>

#include "mla/types.h"

namespace mla::tools {

struct Tolerance {
  double rel = 1.0 / 256;     // BF16 output rounding (at most 2^-8 relative)
  double abs_rms = 1.0 / 64;  // BF16 softmax weights in P.V (derivation: tests/support/mla_test.h)
  double lse_abs = 1e-3;
};

struct Agreement {
  int64_t bad = 0;               // elements (and LSEs) outside the tolerance
  double max_abs_err = 0;        // largest |o - r| over finite elements
  double max_err_over_tol = 0;   // largest |o - r| / tolerance (<= 1 passes)
  double max_lse_err = 0;
  std::string first_bad;         // where the first failure is, with values
  bool ok() const { return bad == 0; }
};

Agreement compare_to_reference(const ProblemDesc& d, const float* out, const float* lse, const float* ref_out,
                               const float* ref_lse, const Tolerance& tol = Tolerance());

}  // namespace mla::tools
