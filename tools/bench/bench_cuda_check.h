// tools/bench/bench_cuda_check.h - every CUDA and cuBLAS call of the bench
// goes through these, so that a failure stops the config with the call named.
// CUDA errors and device buffers are the backend's own (cuda/src), so the
// bench reports them as the library does.
#pragma once

#include <cublas_v2.h>

#include <cstdint>
#include <string>

#include "cuda_status.h"
#include "device_buffer.h"
#include "mla/status.h"

namespace mla::tools::bench {

using cuda_impl::DeviceBuffer;

inline Status cuda_ok(cudaError_t e, const char* what) { return cuda_impl::cuda_status(e, what); }

inline Status cublas_ok(cublasStatus_t e, const char* what) {
  if (e == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Status(StatusCode::device_error, std::string(what) + ": " + cublasGetStatusName(e) + " (" + cublasGetStatusString(e) + ")");
}

// DeviceBuffer::allocate, with what the memory is for in the message.
inline Status allocate(DeviceBuffer* b, int64_t bytes, const char* what) {
  const Status st = b->allocate(bytes);
  if (st.ok()) return st;
  return Status(st.code(), "allocating " + std::to_string(bytes) + " bytes for " + what + ": " + st.message());
}

}  // namespace mla::tools::bench

// Return the failure of a CUDA runtime / cuBLAS call (the call's text names it).
#define BENCH_CUDA(expr) MLA_CUDA_RETURN_IF_ERROR(expr)
#define BENCH_CUBLAS(expr) MLA_RETURN_IF_ERROR(::mla::tools::bench::cublas_ok((expr), #expr))
