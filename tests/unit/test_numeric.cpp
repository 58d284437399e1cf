// Exact BF16 and E4M3 conversions.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <ios>
#include <random>
#include <vector>

#include "mla/numeric.h"
#include "mla_test.h"

int main(int argc, char** argv) { return mla::test::run_suite(argc, argv, nullptr); }

TEST_CASE("e4m3: all 256 codes decode to the OCP e4m3fn values") {
  for (int c = 0; c < 256; ++c) {
    const int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
    const float got = mla::fp8_e4m3_to_float(uint8_t(c));
    if (e == 15 && m == 7) {
      CHECK(std::isnan(got));
      continue;
    }
    // Independent formula in double: subnormal m/8 * 2^-6, normal (1 + m/8) * 2^(e-7).
    double want = e == 0 ? (m / 8.0) * std::pow(2.0, -6) : (1.0 + m / 8.0) * std::pow(2.0, e - 7);
    if (s) want = -want;
    CHECK_MESSAGE(double(got) == want, "code " << c);
  }
  CHECK(mla::fp8_e4m3_to_float(0x7E) == 448.f);
  CHECK(mla::fp8_e4m3_to_float(0x01) == std::ldexp(1.f, -9));
}

TEST_CASE("e4m3: encoding round-trips every finite code and rounds to nearest even") {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;
    const float v = mla::fp8_e4m3_to_float(uint8_t(c));
    const uint8_t back = mla::float_to_fp8_e4m3(v);
    CHECK_MESSAGE(mla::fp8_e4m3_to_float(back) == v, "code " << c);
  }
  CHECK(mla::float_to_fp8_e4m3(1000.f) == 0x7E);
  CHECK(mla::float_to_fp8_e4m3(-1000.f) == 0xFE);
  // 1.0625 is halfway between 1 (0x38) and 1.125 (0x39): ties to even -> 0x38.
  CHECK(mla::float_to_fp8_e4m3(1.0625f) == 0x38);
  CHECK(mla::float_to_fp8_e4m3(1.1875f) == 0x3A);  // halfway 1.125 / 1.25 -> even 0x3A
}

TEST_CASE("bf16: round to nearest even, NaN stays NaN") {
  CHECK(mla::float_to_bf16(1.0f) == 0x3F80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even -> 1.0
  CHECK(mla::float_to_bf16(1.0f + std::ldexp(1.f, -8)) == 0x3F80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (0x3F81) and 1 + 2^-6 (0x3F82): even -> 0x3F82
  CHECK(mla::float_to_bf16(1.0f + 3 * std::ldexp(1.f, -8)) == 0x3F82);
  CHECK(mla::float_to_bf16(1.0f + std::ldexp(1.f, -8) + std::ldexp(1.f, -20)) == 0x3F81);
  CHECK(std::isnan(mla::bf16_to_float(mla::float_to_bf16(NAN))));
  CHECK(mla::bf16_to_float(mla::float_to_bf16(-2.5f)) == -2.5f);
}

namespace {

// float -> BF16 by the definition, in double: the two BF16 neighbours of f
// (truncation and one step up), the nearer one, ties to the even pattern;
// past the largest finite BF16 plus half a step, infinity.
uint16_t bf16_by_definition(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t down = uint16_t(u >> 16), up = uint16_t(down + 1);
  if ((u & 0xFFFFu) == 0) return down;  // exactly representable
  const double x = std::fabs(double(f)), lo = std::fabs(double(mla::bf16_to_float(down)));
  // The step above `down` in magnitude; at the top of the range it ends at 2^128 (infinity).
  const double hi = (down & 0x7FFF) == 0x7F7F ? std::ldexp(1.0, 128) : std::fabs(double(mla::bf16_to_float(up)));
  if (x - lo < hi - x) return down;
  if (x - lo > hi - x) return up;
  return (down & 1) ? up : down;
}

// float -> E4M3 by brute force over the 254 finite codes: the nearest value,
// ties to the even code, saturating at +-448.
uint8_t e4m3_by_search(float f) {
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const double a = std::fabs(double(f));
  if (a >= 448) return sign | 0x7E;
  int best = 0;
  for (int c = 1; c <= 0x7E; ++c) {
    const double d = std::fabs(double(mla::fp8_e4m3_to_float(uint8_t(c))) - a);
    const double db = std::fabs(double(mla::fp8_e4m3_to_float(uint8_t(best))) - a);
    if (d < db || (d == db && (c & 1) == 0)) best = c;
  }
  return uint8_t(sign | best);
}

}  // namespace

TEST_CASE("bf16: float_to_bf16 equals the definition on 2^22 spread bit patterns and every tie") {
  int64_t checked = 0;
  for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 1021) {  // odd stride: every low-bit pattern appears
    float f;
    const uint32_t bits = uint32_t(u);
    std::memcpy(&f, &bits, 4);
    if (std::isnan(f)) continue;
    const uint16_t got = mla::float_to_bf16(f), want = bf16_by_definition(f);
    if (got != want) FAIL("bits 0x" << std::hex << bits << ": got 0x" << got << ", want 0x" << want);
    ++checked;
  }
  // Exact midpoints (low half 0x8000) of every high half, both signs.
  for (uint32_t hi = 0; hi < 0x10000; ++hi) {
    if ((hi & 0x7F80) == 0x7F80) continue;  // inf / NaN high halves
    const uint32_t bits = hi << 16 | 0x8000u;
    float f;
    std::memcpy(&f, &bits, 4);
    CHECK(mla::float_to_bf16(f) == bf16_by_definition(f));
  }
  CHECK(checked > 4000000);
  // NaN stays NaN (quiet), whatever its payload; infinities stay infinities.
  for (uint32_t bits : {0x7F800001u, 0xFF800001u, 0x7FC00000u, 0x7F80FFFFu}) {
    float f;
    std::memcpy(&f, &bits, 4);
    const uint16_t h = mla::float_to_bf16(f);
    CHECK(std::isnan(mla::bf16_to_float(h)));
    CHECK((h & 0x0040) != 0);
  }
  CHECK(mla::float_to_bf16(INFINITY) == 0x7F80);
  CHECK(mla::float_to_bf16(-INFINITY) == 0xFF80);
}

TEST_CASE("e4m3: float_to_fp8_e4m3 equals a brute-force search, midpoints and subnormals included") {
  std::vector<float> xs = {0.f, -0.f, 448.f, 449.f, 464.f, 1e30f, -1e30f, INFINITY, -INFINITY, 1e-30f};
  for (int c = 0; c < 0x7E; ++c) {  // every code, its midpoint to the next, and values around it
    const float a = mla::fp8_e4m3_to_float(uint8_t(c)), b = mla::fp8_e4m3_to_float(uint8_t(c + 1));
    const float mid = (a + b) / 2;  // exact in float
    for (float v : {a, mid, std::nextafter(mid, 0.f), std::nextafter(mid, 1e9f), b}) {
      xs.push_back(v);
      xs.push_back(-v);
    }
  }
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> e(-14.f, 10.f);
  for (int i = 0; i < 20000; ++i) xs.push_back((i & 1 ? -1.f : 1.f) * std::exp2(e(rng)));
  for (float x : xs) {
    const uint8_t got = mla::float_to_fp8_e4m3(x), want = e4m3_by_search(x);
    if (got != want) FAIL_CHECK("x = " << x << ": got 0x" << std::hex << int(got) << ", want 0x" << int(want));
  }
  CHECK(mla::float_to_fp8_e4m3(NAN) == 0x7F);
}
