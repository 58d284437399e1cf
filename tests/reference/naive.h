// tests/reference/naive.h - an independent, deliberately naive formulation of
// the contract, used only to check mla::reference_decode.
//
// It shares nothing with common/src/reference.cpp but the mask predicate
// mla::key_visible (itself checked exhaustively against the range functions in
// tests/unit/test_mask.cpp): rows are decoded here from their bit patterns,
// the full score matrix of each request is materialised, and the softmax is
// taken in two passes (max, then sum) before P.V.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mla_test.h"

namespace mla::test::naive {

// The value of a BF16 / E4M3 bit pattern, from the field definitions.
double bf16_value(uint16_t bits);
double e4m3_value(uint8_t code);

// The naive result in double, one row per (query token, head).
struct Result {
  std::vector<double> out;  // [total_q, H, 512]
  std::vector<double> lse;  // [total_q, H]
  // sum_k p_k |v_k[c]| per element: the magnitude the rounding error of a
  // weighted sum scales with (cancellation makes |out| alone too tight).
  std::vector<double> mag;
};
Result compute(const HostProblem& p);

// How many elements of a float result differ from the naive one by more than
// float rounding of a float64 computation allows; the first failure is
// described in *first. NaN must match NaN; -inf LSE must match exactly.
int64_t count_mismatches(const HostProblem& p, const Result& n, const float* out, const float* lse,
                         std::string* first);

}  // namespace mla::test::naive
