// The portable decode kernel for Q bf16, KV bf16 (both shared-memory configurations).
#include "decode_kernel.cuh"
#include "decode_kernel.h"

namespace mla::cuda_impl {
template cudaError_t launch_portable_decode<MLA_FORMAT_BF16, MLA_FORMAT_BF16>(const DecodeParams&, PortableSize,
                                                                          cudaStream_t);
}  // namespace mla::cuda_impl
