// The portable decode kernel for Q fp8, KV fp8 (both shared-memory configurations).
#include "decode_kernel.cuh"
#include "decode_kernel.h"

namespace mla::cuda_impl {
template cudaError_t launch_portable_decode<MLA_FORMAT_FP8_ROPE640, MLA_FORMAT_FP8_ROPE640>(const DecodeParams&, PortableSize,
                                                                          cudaStream_t);
}  // namespace mla::cuda_impl
