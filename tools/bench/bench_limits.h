// tools/bench/bench_limits.h - the two ceilings every result is a share of,
// measured in the same process just before the configs: device-to-device
// copy bandwidth and the cuBLAS BF16 GEMM rate.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "bench_result.h"
#include "mla/status.h"

namespace mla::tools::bench {

// cudaMemcpyAsync of `bytes` device to device (bytes >= 1 GiB keeps L2 out of
// it), median of `runs` after warm-up.
Status measure_copy(int64_t bytes, int runs, cudaStream_t stream, Limits* out);

// cublasGemmEx, n x n x n, BF16 inputs and output, FP32 accumulation, on
// random data (zeros run faster), median of `runs` after warm-up.
Status measure_gemm(int n, int runs, cudaStream_t stream, Limits* out);

}  // namespace mla::tools::bench
