// fp8_bf16.cuh - exact E4M3 ("e4m3fn") to BF16 conversion on the device.
//
// Every E4M3 value is exactly a BF16 value (3 mantissa bits < 7, and the
// subnormals m * 2^-9 are normal in BF16), so the conversion is exact. It is
// done with integer operations only, so flush-to-zero settings cannot touch
// the subnormal codes:
//   normal (e > 0):   BF16 exponent e - 7 + 127, mantissa m << 4
//   subnormal (e = 0, m > 0): m * 2^-9 = 2^(p-9) * (m / 2^p), p = msb(m)
//   0x7F / 0xFF:      NaN (BF16 0x7FC0, with the sign)
#pragma once

#include <cstdint>

namespace mla::cuda_impl {

__device__ __forceinline__ uint32_t e4m3_to_bf16_bits(uint32_t code) {
  const uint32_t sign = (code & 0x80u) << 8;
  const uint32_t mag = code & 0x7Fu;
  const uint32_t e = mag >> 3, m = mag & 7u;
  uint32_t bits;
  if (mag == 0x7Fu) {
    bits = 0x7FC0u;
  } else if (e != 0) {
    bits = ((e + 120u) << 7) | (m << 4);
  } else if (m != 0) {
    const uint32_t msb = 31u - __clz(m);              // 0..2
    const uint32_t frac = (m << (3u - msb)) & 7u;     // mantissa bits below the leading one
    bits = ((msb - 9u + 127u) << 7) | (frac << 4);
  } else {
    bits = 0;
  }
  return sign | bits;
}

// Four packed E4M3 codes (little-endian bytes of `w`) -> two BF16x2 words.
__device__ __forceinline__ void e4m3x4_to_bf16x4(uint32_t w, uint32_t& lo, uint32_t& hi) {
  lo = e4m3_to_bf16_bits(w & 0xFFu) | (e4m3_to_bf16_bits((w >> 8) & 0xFFu) << 16);
  hi = e4m3_to_bf16_bits((w >> 16) & 0xFFu) | (e4m3_to_bf16_bits(w >> 24) << 16);
}

}  // namespace mla::cuda_impl
