// The device's E4M3 -> BF16 conversion is exact for all 256 codes (subnormals
// included; 0x7F / 0xFF are NaN), checked against the host table of common/.
#include <doctest/doctest.h>

#include <cmath>

#include "mla/numeric.h"
#include "testing.h"

TEST_CASE("cuda: E4M3 -> BF16 on the device is exact for all 256 codes") {
  uint16_t bits[256];
  const mla::Status st = mla::cuda_impl::fp8_to_bf16_on_device(bits);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  for (int c = 0; c < 256; ++c) {
    const float want = mla::fp8_e4m3_to_float(uint8_t(c));
    const float got = mla::bf16_to_float(bits[c]);
    if (std::isnan(want)) {
      CHECK_MESSAGE(std::isnan(got), "code " << c);
    } else {
      CHECK_MESSAGE(got == want, "code " << c << ": " << got << " != " << want);
      CHECK_MESSAGE(std::signbit(got) == std::signbit(want), "code " << c << " (sign of zero)");
    }
  }
}
