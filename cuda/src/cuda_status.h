// cuda_status.h - CUDA runtime errors as mla::Status, for host code.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "mla/status.h"

namespace mla::cuda_impl {

// ok for cudaSuccess; otherwise out_of_memory or device_error naming the call.
inline Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  const StatusCode code = e == cudaErrorMemoryAllocation ? StatusCode::out_of_memory : StatusCode::device_error;
  return Status(code, std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

}  // namespace mla::cuda_impl

// Return early with a Status when a CUDA call fails.
#define MLA_CUDA_RETURN_IF_ERROR(call) MLA_RETURN_IF_ERROR(::mla::cuda_impl::cuda_status((call), #call))
