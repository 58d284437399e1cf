// sm90_decode.h - the Hopper (sm_90a) decode path behind the CUDA backend's
// dispatch. Included from .cu files only.
#pragma once

#include <cuda_runtime.h>

#include "../decode_params.h"

namespace mla::cuda_impl {

// Launches the sm_90a kernel for `p` on `stream` and returns true; returns
// false without launching when this path does not handle the call (a format
// pair other than (bf16, bf16), a device that is not compute capability 9.0,
// or a binary built without sm_90a), so the caller runs the portable kernel.
// The grid is (p.num_parts, p.max_m_tiles) with 384 threads and about 226 KiB
// of shared memory per CTA: one CTA per SM, so the planner should make
// num_parts * max_m_tiles about the number of SMs.
bool sm90_decode_launch(const DecodeParams& p, cudaStream_t stream);

}  // namespace mla::cuda_impl
