// dev_gemm.h - the BF16 GEMM ceiling of the development harness: cuBLAS,
// loaded at run time (dlopen) so the harness runs where cuBLAS is missing,
// only without that number.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>

#include "dev_cuda.h"

namespace mla::sm90_dev {

__global__ void fill_bf16_kernel(uint16_t* dst, size_t n, uint32_t seed, float amplitude);

// Median TFLOPS of an n x n x n BF16 GEMM (fp32 accumulate) on random data;
// 0 when cuBLAS cannot be loaded.
inline double measure_gemm_tflops(cudaStream_t stream, int n = 8192) {
  const char* names[] = {"libcublas.so.13", "libcublas.so", "libcublas.so.12"};
  void* lib = nullptr;
  for (const char* name : names)
    if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
  if (!lib) {
    std::fprintf(stderr, "gemm: cuBLAS not found (%s)\n", dlerror());
    return 0;
  }
  auto create = reinterpret_cast<decltype(&cublasCreate_v2)>(dlsym(lib, "cublasCreate_v2"));
  auto destroy = reinterpret_cast<decltype(&cublasDestroy_v2)>(dlsym(lib, "cublasDestroy_v2"));
  auto set_stream = reinterpret_cast<decltype(&cublasSetStream_v2)>(dlsym(lib, "cublasSetStream_v2"));
  // cublasGemmEx has a C++ overload too: name the C signature explicitly.
  using GemmEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                    const void*, const void*, cudaDataType, int, const void*, cudaDataType, int,
                                    const void*, void*, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  auto gemm = reinterpret_cast<GemmEx>(dlsym(lib, "cublasGemmEx"));
  if (!create || !destroy || !set_stream || !gemm) {
    std::fprintf(stderr, "gemm: cuBLAS symbols missing\n");
    return 0;
  }
  cublasHandle_t h = nullptr;
  if (create(&h) != CUBLAS_STATUS_SUCCESS) return 0;
  set_stream(h, stream);
  const size_t elems = size_t(n) * n;
  DeviceBuffer<uint16_t> a(elems), b(elems), c(elems);
  fill_bf16_kernel<<<1024, 256, 0, stream>>>(a.ptr, elems, 11u, 1.f);
  DEV_CHECK_LAUNCH();
  fill_bf16_kernel<<<1024, 256, 0, stream>>>(b.ptr, elems, 12u, 1.f);
  DEV_CHECK_LAUNCH();
  const float one = 1.f, zero = 0.f;
  bool ok = true;
  const double us = time_median_us(stream, 3, 10, [&](int) {
    ok = ok && gemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a.ptr, CUDA_R_16BF, n, b.ptr, CUDA_R_16BF, n, &zero,
                    c.ptr, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS;
  });
  destroy(h);
  if (!ok) return 0;
  return 2.0 * double(n) * n * n / (us * 1e-6) / 1e12;
}

}  // namespace mla::sm90_dev
