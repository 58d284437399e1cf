// Exact BF16 and E4M3 conversions.
#include <doctest/doctest.h>

#include <cmath>

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
