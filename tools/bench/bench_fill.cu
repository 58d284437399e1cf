// Random fill kernels (bench_fill.h): one 64-bit hash of (seed, position) per
// 8 output bytes, so that any buffer size fills in one pass at close to the
// write bandwidth and the same seed gives the same data.
#include <cuda_bf16.h>

#include "bench_fill.h"

namespace mla::tools::bench {
namespace {

// A stateless mixer (multiply-xorshift rounds): neighbouring positions give
// unrelated bits, which a plain counter would not.
__device__ __forceinline__ uint64_t mix(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + i * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 29)) * 0x94D049BB133111EBull;
  return z ^ (z >> 32);
}

// 16 random bits -> a BF16 in [-a, a]; the +0.5 keeps the draw off exact 0.
__device__ __forceinline__ uint16_t bf16_bits(uint32_t r16, float a) {
  const float u = (float(r16) + 0.5f) * (1.0f / 65536.0f);
  return __bfloat16_as_ushort(__float2bfloat16_rn((2.0f * u - 1.0f) * a));
}

__device__ __forceinline__ uint2 four_bf16(uint64_t h, float a) {
  uint2 v;
  v.x = uint32_t(bf16_bits(uint32_t(h) & 0xffffu, a)) | (uint32_t(bf16_bits(uint32_t(h >> 16) & 0xffffu, a)) << 16);
  v.y = uint32_t(bf16_bits(uint32_t(h >> 32) & 0xffffu, a)) | (uint32_t(bf16_bits(uint32_t(h >> 48), a)) << 16);
  return v;
}

// 8 random bits -> an E4M3 code: sign, exponent field 4..11, any mantissa.
__device__ __forceinline__ uint32_t e4m3_code(uint32_t r8) {
  return (r8 & 0x80u) | ((4u + ((r8 >> 3) & 7u)) << 3) | (r8 & 7u);
}

__global__ void fill_bf16_kernel(uint16_t* p, int64_t count, float a, uint64_t seed) {
  const int64_t chunks = count / 4;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < chunks; c += stride)
    reinterpret_cast<uint2*>(p)[c] = four_bf16(mix(seed, uint64_t(c)), a);
  // A count that is not a multiple of 4 leaves a tail for the first threads.
  const int64_t tail = chunks * 4 + int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (tail < count) p[tail] = bf16_bits(uint32_t(mix(seed, uint64_t(tail) | (1ull << 63))) & 0xffffu, a);
}

// A row is 80 chunks of 8 bytes: 64 of E4M3 codes, then 16 of BF16 rope.
__global__ void fill_fp8_kernel(uint2* p, int64_t rows, uint64_t seed) {
  const int64_t chunks = rows * 80;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < chunks; c += stride) {
    const uint64_t h = mix(seed, uint64_t(c));
    if (c % 80 < 64) {
      uint2 v;
      v.x = e4m3_code(uint32_t(h)) | (e4m3_code(uint32_t(h >> 8)) << 8) | (e4m3_code(uint32_t(h >> 16)) << 16) |
            (e4m3_code(uint32_t(h >> 24)) << 24);
      v.y = e4m3_code(uint32_t(h >> 32)) | (e4m3_code(uint32_t(h >> 40)) << 8) |
            (e4m3_code(uint32_t(h >> 48)) << 16) | (e4m3_code(uint32_t(h >> 56)) << 24);
      p[c] = v;
    } else {
      p[c] = four_bf16(h, 1.0f);
    }
  }
}

__global__ void fill_uniform_kernel(float* p, int64_t count, float lo, float hi, uint64_t seed) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    const float u = (float(uint32_t(mix(seed, uint64_t(i)) >> 40)) + 0.5f) * (1.0f / 16777216.0f);
    p[i] = lo + (hi - lo) * u;
  }
}

// Enough blocks to fill the device several times over; the loops stride.
unsigned blocks_for(int64_t work) {
  const int64_t b = (work + 255) / 256;
  return unsigned(b < 1 ? 1 : (b > 65536 ? 65536 : b));
}

}  // namespace

cudaError_t fill_bf16(void* p, int64_t count, float amplitude, uint64_t seed, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  fill_bf16_kernel<<<blocks_for(count / 4 + 1), 256, 0, stream>>>(static_cast<uint16_t*>(p), count, amplitude, seed);
  return cudaGetLastError();
}

cudaError_t fill_fp8_rows(void* p, int64_t rows, uint64_t seed, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  fill_fp8_kernel<<<blocks_for(rows * 80), 256, 0, stream>>>(static_cast<uint2*>(p), rows, seed);
  return cudaGetLastError();
}

cudaError_t fill_uniform(float* p, int64_t count, float lo, float hi, uint64_t seed, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  fill_uniform_kernel<<<blocks_for(count), 256, 0, stream>>>(p, count, lo, hi, seed);
  return cudaGetLastError();
}

}  // namespace mla::tools::bench
