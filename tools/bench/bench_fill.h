// tools/bench/bench_fill.h - fills device buffers with fresh random data on
// the device (a host fill and upload of several GB would take seconds per
// config). Every value is finite and the buffers are never all zeros: zeros
// can run faster than real data and hide unwritten outputs.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace mla::tools::bench {

// `count` BF16 values uniform in [-amplitude, amplitude].
cudaError_t fill_bf16(void* p, int64_t count, float amplitude, uint64_t seed, cudaStream_t stream);

// `rows` fp8_rope640 rows: 512 E4M3 codes with magnitudes 2^-3 .. 30 (never
// the NaN codes 0x7F / 0xFF), then 64 BF16 rope values in [-1, 1].
cudaError_t fill_fp8_rows(void* p, int64_t rows, uint64_t seed, cudaStream_t stream);

// `count` floats uniform in [lo, hi] (the per-row and per-token FP8 scales).
cudaError_t fill_uniform(float* p, int64_t count, float lo, float hi, uint64_t seed, cudaStream_t stream);

}  // namespace mla::tools::bench
