// sm90_dev_fp8.cu - the device side of the FP8 parts of the sm_90a
// development harness (see dev_fp8.h): the exhaustive conversion check on
// the device, FP8 bench data. Host side: dev_fp8_problems.cpp.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../sm90_fp8_tile.cuh"
#include "dev_cuda.h"
#include "dev_fp8.h"
#include "mla/constants.h"
#include "mla/numeric.h"

namespace mla::sm90_dev {

// ------------------------------------------------------------ conversion --

__global__ void convert_codes_kernel(uint32_t* out) {
#if MLA_SM90_DEVICE
  // Thread t takes codes 4t .. 4t + 3 packed little-endian, as in a tile row.
  const uint32_t t = threadIdx.x;
  const uint32_t w = (4 * t) | ((4 * t + 1) << 8) | ((4 * t + 2) << 16) | ((4 * t + 3) << 24);
  out[2 * t] = cuda_impl::sm90::e4m3x2_to_bf16x2<0x1404u>(w);
  out[2 * t + 1] = cuda_impl::sm90::e4m3x2_to_bf16x2<0x3424u>(w);
#else
  (void)out;
#endif
}

bool check_conversion_on_device() {
  DeviceBuffer<uint32_t> d(128);
  convert_codes_kernel<<<1, 64>>>(d.ptr);
  DEV_CHECK_LAUNCH();
  DEV_CHECK(cudaDeviceSynchronize());
  const std::vector<uint32_t> words = d.download();
  int bad = 0, subnormal_ok = 0;
  for (uint32_t code = 0; code < 256; ++code) {
    const uint16_t got = uint16_t(words[code / 2] >> (16 * (code % 2)));
    const float v = fp8_e4m3_to_float(uint8_t(code));
    const uint16_t want = std::isnan(v) ? float_to_bf16((code & 0x80) ? -480.f : 480.f) : float_to_bf16(v);
    if (got != want) {
      if (++bad <= 8) std::printf("  conversion: code 0x%02x -> 0x%04x, want 0x%04x\n", code, got, want);
    } else if ((code & 0x78) == 0 && (code & 7) != 0) {
      ++subnormal_ok;
    }
  }
  std::printf("%s E4M3 -> BF16 conversion on the device: 256 codes, %d wrong (%d subnormal codes exact)\n",
              bad ? "FAIL" : "PASS", bad, subnormal_ok);
  return bad == 0;
}

// ----------------------------------------------------------- bench data --

__device__ __forceinline__ uint32_t mix32(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return uint32_t(x);
}

__global__ void fill_fp8_rows_kernel(uint8_t* rows, size_t n_rows, uint32_t seed) {
  const size_t words = n_rows * (MLA_ROW_BYTES_FP8 / 4);
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < words; i += size_t(gridDim.x) * blockDim.x) {
    const uint32_t r = mix32(i * 0x9e3779b97f4a7c15ull + seed);
    const size_t at = (i * 4) % MLA_ROW_BYTES_FP8;
    uint32_t w;
    if (at < MLA_FP8_ROPE_BYTE_OFFSET) {
      w = r & 0xFEFEFEFEu;  // magnitudes up to 0x7E: every finite code but the odd ones
    } else {
      // two BF16 values in [-2, 2): sign, exponent 126..127, random mantissa
      const uint32_t lo = (r & 0x8000u) | ((126u + ((r >> 7) & 1u)) << 7) | (r & 0x7Fu);
      const uint32_t hi = ((r >> 16) & 0x8000u) | ((126u + ((r >> 23) & 1u)) << 7) | ((r >> 16) & 0x7Fu);
      w = lo | (hi << 16);
    }
    reinterpret_cast<uint32_t*>(rows)[i] = w;
  }
}

__global__ void fill_scales_kernel(float* dst, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    dst[i] = 0.5f + 1.5f * float(mix32(i + seed) >> 8) * (1.f / 16777216.f);
}

}  // namespace mla::sm90_dev
