// dispatch.h - which decode kernel runs on which device.
#pragma once

#include <cuda_runtime.h>

#include "decode_params.h"
#include "device_info.h"
#include "mla/cuda.h"
#include "mla/status.h"

namespace mla::cuda_impl {

// Launches the decode kernel for `p` on `stream`:
//   automatic: on compute capability 9.0 the Hopper kernel (sm90_decode_launch)
//              when it takes the call, otherwise the portable kernel in the
//              largest shared-memory configuration the device allows;
//   sm90:      the Hopper kernel or unsupported;
//   portable_big / portable_small: that configuration (unsupported when the
//              device lacks the shared memory).
// *used (may be null) names the kernel launched.
Status launch_decode(const DecodeParams& p, mla::cuda::Kernel kernel, const DeviceInfo& dev, cudaStream_t stream,
                     const char** used);

}  // namespace mla::cuda_impl
