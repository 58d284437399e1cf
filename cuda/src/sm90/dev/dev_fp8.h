// dev_fp8.h - the FP8 parts of the sm_90a development harness: stress
// problems and per-row error figures (host, dev_fp8_problems.cpp), the
// exhaustive device check of the E4M3 -> BF16 conversion and FP8 bench data
// (device, sm90_dev_fp8.cu).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mla_test.h"

namespace mla::sm90_dev {

// Rewrites the live KV rows (and fp8 Q rows) of `p` as the FP8 stress of the
// reliability issue: E4M3 content at +-448 (every code when all_max, rope
// zeroed so that exact ties stay exact, else a quarter of them) and scales
// 2^e with e uniform in [e_lo, e_hi] per row.
void stress_fp8(test::HostProblem& p, uint64_t seed, bool all_max, int e_lo, int e_hi);

// Per-row error against the float64 reference over rows with a nonzero,
// finite reference: the worst relative L2 error ||o - r|| / ||r|| and the
// worst max_c |o - r| / rms(r).
struct RowErrors {
  double max_rel_l2 = 0, max_abs_over_rms = 0;
  int64_t rows = 0;
};
RowErrors row_errors(const test::HostProblem& p, const uint16_t* out, const std::vector<float>& ref_out);

#ifdef __CUDACC__
// Runs the kernel's E4M3 -> BF16 pair conversion on the GPU over all 256
// codes and compares every result bit-exactly with the exact BF16 of the
// code's value (NaN codes: +-480, the documented stand-in); prints one line.
bool check_conversion_on_device();

// One tile of the transposed small-H products (S^T = K.Q^T, O^T = V^T.P^T,
// wgmma m64n16k16 with the small-H kernel's descriptors) on small integers,
// compared exactly with the host product; prints one line.
bool check_small_h_ops_on_device();

// Fresh random fp8_rope640 rows: content codes with magnitude below 0x7F (no
// NaN), rope BF16 in [-2, 2); and `n` scales in [0.5, 2).
__global__ void fill_fp8_rows_kernel(uint8_t* rows, size_t n_rows, uint32_t seed);
__global__ void fill_scales_kernel(float* dst, size_t n, uint32_t seed);
#endif

}  // namespace mla::sm90_dev
