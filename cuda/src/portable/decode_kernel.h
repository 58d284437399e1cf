// portable/decode_kernel.h - the portable decode kernel (sm_80 and later,
// mma.sync): its launch entry and shared-memory needs. The body is in
// decode_kernel.cuh; each (q_format, kv_format) pair is instantiated in its
// own .cu file (decode_<q>_<kv>.cu) so they compile in parallel.
#pragma once

#include <cuda_runtime.h>

#include "../config.h"
#include "../decode_params.h"

namespace mla::cuda_impl {

// Which shared-memory configuration to run (config.h: kPortableBig / kPortableSmall).
enum class PortableSize { big, small };

inline constexpr PortableConfig portable_config(PortableSize s) {
  return s == PortableSize::big ? kPortableBig : kPortableSmall;
}

// Dynamic shared memory of the kernel for a KV format and configuration.
inline constexpr int portable_kernel_smem(int kv_format, PortableSize s) {
  return portable_smem_layout(kv_format, portable_config(s)).bytes;
}

// Launches the decode grid (p.num_parts, p.max_m_tiles) on `stream`; returns
// the launch error. QF / KVF: MLA_FORMAT_* of Q and of the cache.
template <int QF, int KVF>
cudaError_t launch_portable_decode(const DecodeParams& p, PortableSize size, cudaStream_t stream);

extern template cudaError_t launch_portable_decode<MLA_FORMAT_BF16, MLA_FORMAT_BF16>(const DecodeParams&, PortableSize,
                                                                                     cudaStream_t);
extern template cudaError_t launch_portable_decode<MLA_FORMAT_BF16, MLA_FORMAT_FP8_ROPE640>(const DecodeParams&,
                                                                                            PortableSize, cudaStream_t);
extern template cudaError_t launch_portable_decode<MLA_FORMAT_FP8_ROPE640, MLA_FORMAT_FP8_ROPE640>(const DecodeParams&,
                                                                                                   PortableSize,
                                                                                                   cudaStream_t);

}  // namespace mla::cuda_impl
