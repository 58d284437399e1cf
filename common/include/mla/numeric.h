// mla/numeric.h - exact BF16 and FP8 E4M3 ("e4m3fn") conversions on the host.
//
// BF16: the high 16 bits of an IEEE float; float -> BF16 rounds to nearest,
// ties to even, and keeps NaN a (quiet) NaN.
// E4M3 (OCP e4m3fn): sign, 4 exponent bits (bias 7), 3 mantissa bits; no
// infinities; 0x7F and 0xFF are NaN; max 448; subnormals are m * 2^-9.
#pragma once

#include <cstdint>
#include <cstring>

namespace mla {

inline float bf16_to_float(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);  // NaN stays NaN
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;  // round to nearest, ties to even (overflow rounds to inf)
  return uint16_t(u >> 16);
}

// Round a float to the nearest BF16 value and back.
inline float round_to_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

// The 256 E4M3 values, computed once from the definition (exact in float).
const float* fp8_e4m3_table();
inline float fp8_e4m3_to_float(uint8_t code) { return fp8_e4m3_table()[code]; }

// Round a float to E4M3: nearest, ties to even, saturating at +-448 (NaN -> 0x7F).
uint8_t float_to_fp8_e4m3(float f);

}  // namespace mla
