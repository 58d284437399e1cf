// The E4M3 table and float -> E4M3 rounding of mla/numeric.h.
#include "mla/numeric.h"

#include <cmath>

namespace mla {

namespace {
struct Fp8Table {
  float v[256];
  Fp8Table() {
    for (int c = 0; c < 256; ++c) {
      const int sign = c >> 7, exp = (c >> 3) & 15, man = c & 7;
      float mag;
      if (exp == 15 && man == 7) mag = NAN;  // 0x7F / 0xFF
      else if (exp == 0) mag = std::ldexp(float(man), -9);            // subnormal: m * 2^-6 / 8
      else mag = std::ldexp(float(8 + man), exp - 7 - 3);             // (1 + m/8) * 2^(e-7)
      v[c] = sign ? -mag : mag;
    }
  }
};
}  // namespace

const float* fp8_e4m3_table() {
  static const Fp8Table t;
  return t.v;
}

uint8_t float_to_fp8_e4m3(float f) {
  if (std::isnan(f)) return 0x7F;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a >= 448.f) return sign | 0x7E;  // saturate
  // Search the 127 non-negative finite codes (monotonic in the code) for the nearest, ties to even code.
  const float* t = fp8_e4m3_table();
  int lo = 0, hi = 0x7E;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (t[mid] <= a) lo = mid; else hi = mid;
  }
  float dl = a - t[lo], dh = t[hi] - a;
  int c = (dl < dh) ? lo : (dh < dl) ? hi : ((lo & 1) ? hi : lo);
  if (t[hi] == a) c = hi;
  return uint8_t(sign | c);
}

}  // namespace mla
