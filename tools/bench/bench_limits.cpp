// The copy and GEMM ceilings (bench_limits.h).
#include "bench_limits.h"

#include <cublas_v2.h>

#include "bench_cuda_check.h"
#include "bench_fill.h"
#include "bench_timer.h"

namespace mla::tools::bench {

Status measure_copy(int64_t bytes, int runs, cudaStream_t stream, Limits* out) {
  DeviceBuffer src, dst;
  MLA_RETURN_IF_ERROR(allocate(&src, bytes, "copy source"));
  MLA_RETURN_IF_ERROR(allocate(&dst, bytes, "copy destination"));
  // Written once so that the copy reads real pages, not untouched memory.
  BENCH_CUDA(fill_bf16(src.get(), bytes / 2, 1.0f, 7, stream));
  BENCH_CUDA(cudaMemsetAsync(dst.get(), 1, size_t(bytes), stream));
  TimingPlan plan;
  plan.min_warmup = 3;
  plan.min_runs = plan.max_runs = runs;
  TimeStats t;
  MLA_RETURN_IF_ERROR(time_series(stream, plan, [&](int) {
    return cuda_ok(cudaMemcpyAsync(dst.get(), src.get(), size_t(bytes), cudaMemcpyDeviceToDevice, stream),
                   "cudaMemcpyAsync (device to device)");
  }, &t));
  out->copy_bytes = bytes;
  out->copy_runs = t.runs;
  out->copy_gbps = 2.0 * double(bytes) / (t.median_us * 1e-6) / 1e9;
  return Status::Ok();
}

Status measure_gemm(int n, int runs, cudaStream_t stream, Limits* out) {
  const int64_t elems = int64_t(n) * n;
  DeviceBuffer a, b, c;
  MLA_RETURN_IF_ERROR(allocate(&a, elems * 2, "GEMM A"));
  MLA_RETURN_IF_ERROR(allocate(&b, elems * 2, "GEMM B"));
  MLA_RETURN_IF_ERROR(allocate(&c, elems * 2, "GEMM C"));
  BENCH_CUDA(fill_bf16(a.get(), elems, 1.0f, 11, stream));
  BENCH_CUDA(fill_bf16(b.get(), elems, 1.0f, 12, stream));
  cublasHandle_t h = nullptr;
  BENCH_CUBLAS(cublasCreate(&h));
  struct Guard {
    cublasHandle_t h;
    ~Guard() { (void)cublasDestroy(h); }
  } guard{h};
  BENCH_CUBLAS(cublasSetStream(h, stream));
  const float alpha = 1.0f, beta = 0.0f;
  TimingPlan plan;
  plan.min_warmup = 3;  // the first call also picks the algorithm and loads its kernels
  plan.min_runs = plan.max_runs = runs;
  TimeStats t;
  MLA_RETURN_IF_ERROR(time_series(stream, plan, [&](int) {
    return cublas_ok(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.get(), CUDA_R_16BF, n, b.get(),
                                  CUDA_R_16BF, n, &beta, c.get(), CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT),
                     "cublasGemmEx (BF16)");
  }, &t));
  BENCH_CUDA(cudaStreamSynchronize(stream));
  out->gemm_n = n;
  out->gemm_runs = t.runs;
  out->gemm_tflops = 2.0 * double(n) * n * n / (t.median_us * 1e-6) / 1e12;
  return Status::Ok();
}

}  // namespace mla::tools::bench
