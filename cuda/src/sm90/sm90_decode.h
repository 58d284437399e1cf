// sm90_decode.h - the Hopper (sm_90a) decode path behind the CUDA backend's
// dispatch. Included from .cu files only.
#pragma once

#include <cuda_runtime.h>

#include "../decode_params.h"

namespace mla::cuda_impl {

// Launches the sm_90a kernel for `p` on `stream` and returns true; returns
// false without launching when this path does not handle the call (a format
// pair it does not take, a device that is not compute capability 9.0, or a
// binary built without sm_90a), so the caller runs the portable kernel.
// (bf16, bf16) always; (fp8_rope640, fp8_rope640) and (bf16, fp8_rope640)
// through sm90_decode_launch_fp8kv, when its switch is on.
// The grid is (p.num_parts, p.max_m_tiles) with 384 threads and about 226 KiB
// of shared memory per CTA: one CTA per SM, so the planner should make
// num_parts * max_m_tiles about the number of SMs.
bool sm90_decode_launch(const DecodeParams& p, cudaStream_t stream);

// The fp8_rope640-KV kernel alone (sm90_decode_fp8.cu): false without
// launching for other pairs, or when the environment variable MLA_SM90_FP8=0
// turns it off (default on: kFp8RouteDefault there).
bool sm90_decode_launch_fp8kv(const DecodeParams& p, cudaStream_t stream);

}  // namespace mla::cuda_impl
