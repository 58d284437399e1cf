// sm90_dev_fp8.cu - the device side of the FP8 parts of the sm_90a
// development harness (see dev_fp8.h): the exhaustive conversion check on
// the device, FP8 bench data. Host side: dev_fp8_problems.cpp.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../sm90_fp8_tile.cuh"
#include "../sm90_fp8s_config.cuh"
#include "../sm90_sync.cuh"
#include "../sm90_wgmma.cuh"
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

// ------------------------------------------- small-H transposed products --
// One tile of the transposed small-H kernel (docs/fp8_small_h_design.md,
// step 1) with the kernel's descriptors (sm90_fp8s_config.cuh): S^T = K.Q^T
// (32 FP16 m64n16k16 over the FP16 copy and the compact Q, then 4 BF16 ones
// over the rope) and O^T = V^T.P^T (8 m-tiles x 4 k-steps, V^T MN-major
// through trans-a = 1). Shared-memory image (built by the host, copied in as
// bytes): FP16 copy 8 x 8 KiB at 0, K rope [64][128 B] at 64 KiB, compact Q
// 9 x 2 KiB at 72 KiB, P^T 2 KiB at 90 KiB.
constexpr uint32_t kOpsV = 0, kOpsRope = 65536, kOpsQ = 73728, kOpsP = 92160, kOpsBytes = 94208;

__global__ void __launch_bounds__(128, 1) small_h_ops_kernel(const uint4* image, float* st_out, float* ot_out) {
#if MLA_SM90_DEVICE
  using namespace cuda_impl::sm90;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t pad = ((raw + 1023u) & ~1023u) - raw;
  const uint32_t base = raw + pad;
  for (uint32_t i = threadIdx.x; i < kOpsBytes / 16; i += 128) {
    const uint4 w = image[i];
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(base + 16 * i), "r"(w.x), "r"(w.y), "r"(w.z),
                 "r"(w.w)
                 : "memory");
  }
  fence_proxy_async();
  __syncthreads();
  float s[8];
  float o[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i) s[i] = 0.f;
  wgmma_fence();
#pragma unroll
  for (uint32_t kk = 0; kk < 32; ++kk)
    wgmma_m64n16k16_f16_ss(s, make_sw128_desc(fp8s_k_addr(base + kOpsV, kk), 16, 1024),
                           make_sw128_desc(fp8s_q_addr(base + kOpsQ, kk), 16, 1024), kk > 0 ? 1u : 0u);
  wgmma_fence();
#pragma unroll
  for (uint32_t kk = 0; kk < 4; ++kk)
    wgmma_m64n16k16_ss(s, make_sw128_desc(base + kOpsRope + 32 * kk, 16, 1024),
                       make_sw128_desc(fp8s_q_addr(base + kOpsQ, 32 + kk), 16, 1024), 1u);
  wgmma_commit();
  wgmma_wait<0>();
  pin_regs(s);
  wgmma_fence();
#pragma unroll
  for (uint32_t kk = 0; kk < 4; ++kk)
#pragma unroll
    for (uint32_t i = 0; i < 8; ++i)
      wgmma_m64n16k16_f16_ss_ta(o[i], make_sw128_desc(fp8s_vt_addr(base + kOpsV, i, kk), kColBlockBytes, 1024),
                                make_sw128_desc(fp8s_p_addr(base + kOpsP, kk), 16, 1024), kk > 0 ? 1u : 0u);
  wgmma_commit();
  wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < 8; ++i) pin_regs(o[i]);
  // Accumulator element 4j + 2h + e of warp w, lane l: M row 16w + l/4 + 8h,
  // N column 8j + 2(l%4) + e.
  const uint32_t w = threadIdx.x >> 5, l = threadIdx.x & 31;
#pragma unroll
  for (uint32_t x = 0; x < 8; ++x) {
    const uint32_t m = 16 * w + (l >> 2) + 8 * ((x >> 1) & 1), n = 8 * (x >> 2) + 2 * (l & 3) + (x & 1);
    st_out[m * 16 + n] = s[x];
#pragma unroll
    for (uint32_t i = 0; i < 8; ++i) ot_out[(64 * i + m) * 16 + n] = o[i][x];
  }
#else
  (void)image;
  (void)st_out;
  (void)ot_out;
#endif
}

// FP16 bits of a small integer value (|v| < 2048, exact).
static uint16_t small_int_to_half(float v) {
  const int i = int(v);
  uint32_t a = uint32_t(i < 0 ? -i : i);
  if (a == 0) return i < 0 ? 0x8000u : 0u;
  int e = 0;
  while ((a >> (e + 1)) != 0) ++e;  // a in [2^e, 2^(e+1))
  const uint32_t mant = (a << (10 - e)) & 0x3FFu;
  return uint16_t((i < 0 ? 0x8000u : 0u) | (uint32_t(e + 15) << 10) | mant);
}

bool check_small_h_ops_on_device() {
  using cuda_impl::sm90::fp8s_p_offset;
  using cuda_impl::sm90::qc_chunk_offset;
  using cuda_impl::sm90::swizzled_chunk_offset;
  // Small integers: every product and sum is exact in fp32.
  std::vector<float> k(64 * 512), rope(64 * 64), q(16 * 512), qr(16 * 64), pt(16 * 64);
  uint32_t x = 12345;
  auto next = [&](int span) {
    x = x * 1664525u + 1013904223u;
    return float(int((x >> 16) % uint32_t(2 * span + 1)) - span);
  };
  for (auto& v : k) v = next(3);
  for (auto& v : rope) v = next(2);
  for (auto& v : q) v = next(3);
  for (auto& v : qr) v = next(2);
  for (auto& v : pt) v = next(2);
  std::vector<uint8_t> img(kOpsBytes, 0);
  auto put16 = [&](uint32_t off, uint16_t b) { std::memcpy(&img[off], &b, 2); };
  for (uint32_t r = 0; r < 64; ++r)
    for (uint32_t d = 0; d < 512; ++d) put16(kOpsV + swizzled_chunk_offset(r, d / 8) + 2 * (d % 8), small_int_to_half(k[r * 512 + d]));
  for (uint32_t r = 0; r < 64; ++r)
    for (uint32_t d = 0; d < 64; ++d) put16(kOpsRope + swizzled_chunk_offset(r, d / 8) + 2 * (d % 8), float_to_bf16(rope[r * 64 + d]));
  for (uint32_t n = 0; n < 16; ++n) {
    for (uint32_t d = 0; d < 512; ++d) put16(kOpsQ + qc_chunk_offset(n, d / 8) + 2 * (d % 8), small_int_to_half(q[n * 512 + d]));
    for (uint32_t d = 0; d < 64; ++d) put16(kOpsQ + qc_chunk_offset(n, 64 + d / 8) + 2 * (d % 8), float_to_bf16(qr[n * 64 + d]));
    for (uint32_t key = 0; key < 64; ++key) put16(kOpsP + fp8s_p_offset(n, key), small_int_to_half(pt[n * 64 + key]));
  }
  DeviceBuffer<uint4> d_img(kOpsBytes / 16);
  d_img.upload(reinterpret_cast<const uint4*>(img.data()), kOpsBytes / 16);
  DeviceBuffer<float> d_st(64 * 16), d_ot(512 * 16);
  DEV_CHECK(cudaFuncSetAttribute(small_h_ops_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kOpsBytes + 1024)));
  small_h_ops_kernel<<<1, 128, kOpsBytes + 1024>>>(d_img.ptr, d_st.ptr, d_ot.ptr);
  DEV_CHECK_LAUNCH();
  DEV_CHECK(cudaDeviceSynchronize());
  const std::vector<float> st = d_st.download(), ot = d_ot.download();
  int bad_s = 0, bad_o = 0;
  for (uint32_t key = 0; key < 64; ++key)
    for (uint32_t n = 0; n < 16; ++n) {
      double want = 0;
      for (uint32_t d = 0; d < 512; ++d) want += double(k[key * 512 + d]) * q[n * 512 + d];
      for (uint32_t d = 0; d < 64; ++d) want += double(rope[key * 64 + d]) * qr[n * 64 + d];
      if (double(st[key * 16 + n]) != want && ++bad_s <= 4)
        std::printf("  S^T[key %u][row %u] = %g, want %g\n", key, n, double(st[key * 16 + n]), want);
    }
  for (uint32_t d = 0; d < 512; ++d)
    for (uint32_t n = 0; n < 16; ++n) {
      double want = 0;
      for (uint32_t key = 0; key < 64; ++key) want += double(k[key * 512 + d]) * pt[n * 64 + key];
      if (double(ot[d * 16 + n]) != want && ++bad_o <= 4)
        std::printf("  O^T[dim %u][row %u] = %g, want %g\n", d, n, double(ot[d * 16 + n]), want);
    }
  std::printf("%s small-H wgmma m64n16k16: S^T (FP16 + BF16 rope, compact Q) %d of 1024 wrong, "
              "O^T (V^T trans-a = 1) %d of 8192 wrong\n",
              bad_s || bad_o ? "FAIL" : "PASS", bad_s, bad_o);
  return bad_s == 0 && bad_o == 0;
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
