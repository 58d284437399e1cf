// Kernel choice by device (dispatch.h), and the probe for machine code.
#include "dispatch.h"

#include <string>

#include "cuda_status.h"
#include "portable/decode_kernel.h"
#include "sm90/sm90_decode.h"

namespace mla::cuda_impl {
namespace {

// Compiled for the same targets as every kernel of the backend: if the
// runtime finds code for it, it finds code for them.
__global__ void probe_kernel() {}

cudaError_t launch_portable(const DecodeParams& p, PortableSize size, cudaStream_t stream) {
  if (p.q_format == MLA_FORMAT_BF16 && p.kv_format == MLA_FORMAT_BF16)
    return launch_portable_decode<MLA_FORMAT_BF16, MLA_FORMAT_BF16>(p, size, stream);
  if (p.q_format == MLA_FORMAT_BF16)
    return launch_portable_decode<MLA_FORMAT_BF16, MLA_FORMAT_FP8_ROPE640>(p, size, stream);
  return launch_portable_decode<MLA_FORMAT_FP8_ROPE640, MLA_FORMAT_FP8_ROPE640>(p, size, stream);
}

}  // namespace

bool kernel_image_present() {
  cudaFuncAttributes attr;
  const cudaError_t e = cudaFuncGetAttributes(&attr, probe_kernel);
  if (e != cudaSuccess) (void)cudaGetLastError();  // an answer, not a sticky error
  return e == cudaSuccess;
}

Status launch_decode(const DecodeParams& p, mla::cuda::Kernel kernel, const DeviceInfo& dev, cudaStream_t stream,
                     const char** used) {
  using mla::cuda::Kernel;
  const bool hopper = dev.cc_major == 9 && dev.cc_minor == 0;
  if ((kernel == Kernel::automatic || kernel == Kernel::sm90) && hopper && sm90_decode_launch(p, stream)) {
    if (used) *used = "sm90";
    return cuda_status(cudaGetLastError(), "sm90 decode launch");
  }
  if (kernel == Kernel::sm90)
    return Status(StatusCode::unsupported, "the sm90 kernel does not handle this call on " + dev.name +
                                               " (it needs compute capability 9.0, an sm_90a build and a supported "
                                               "format pair)");
  PortableSize size = kernel == Kernel::portable_small ? PortableSize::small : PortableSize::big;
  const bool fits_big = dev.smem_optin >= portable_kernel_smem(p.kv_format, PortableSize::big);
  if (kernel != Kernel::portable_big && kernel != Kernel::portable_small) size = fits_big ? PortableSize::big : PortableSize::small;
  const int need = portable_kernel_smem(p.kv_format, size);
  if (dev.smem_optin < need)
    return Status(StatusCode::unsupported, "the portable kernel (" + std::string(size == PortableSize::big ? "big" : "small") +
                                               ") needs " + std::to_string(need) + " bytes of shared memory; " +
                                               dev.name + " allows " + std::to_string(dev.smem_optin));
  if (used) *used = size == PortableSize::big ? "portable_big" : "portable_small";
  return cuda_status(launch_portable(p, size, stream), "portable decode launch");
}

}  // namespace mla::cuda_impl
