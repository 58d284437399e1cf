// sm90_decode_bf16.cu - the sm_90a decode kernel for (bf16 Q, bf16 KV) and
// its launcher. The roles live in sm90_producer.cuh, sm90_softmax_wg.cuh and
// sm90_helper_wg.cuh; sm90_config.cuh has the layout.
#include <atomic>

#include "sm90_config.cuh"
#include "sm90_decode.h"
#include "sm90_helper_wg.cuh"
#include "sm90_producer.cuh"
#include "sm90_softmax_wg.cuh"
#include "sm90_sync.cuh"

namespace mla::cuda_impl {
namespace sm90 {

__global__ void __launch_bounds__(kThreads, 1) decode_bf16_kernel(const __grid_constant__ DecodeParams p) {
#if MLA_SM90_DEVICE
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t pad = ((raw + 1023u) & ~1023u) - raw;  // swizzle atoms need 1024-byte alignment
  uint8_t* smem_base = smem_raw + pad;
  const uint32_t base = raw + pad;
  const int32_t m_tile = int32_t(blockIdx.y);

  if (threadIdx.x == 0) {
    for (uint32_t s = 0; s < kStages; ++s) {
      mbar_init(base + smem::kBarFull + 8 * s, kFullArrivals);
      mbar_init(base + smem::kBarEmpty + 8 * s, kEmptyArrivals);
    }
    mbar_init(base + smem::kBarQFull, kFullArrivals);
    mbar_init(base + smem::kBarQEmpty, kQEmptyArrivals);
    mbar_init_fence();
  }
  __syncthreads();

  float* scale_smem = reinterpret_cast<float*>(smem_base + smem::kScale);
  float* inv_sum_smem = reinterpret_cast<float*>(smem_base + smem::kInvSum);
  // The role index through a shuffle: the compiler then knows it is
  // warp-uniform, and keeps the wgmma of the consumers out of "divergent" code.
  const uint32_t role = __shfl_sync(0xffffffffu, threadIdx.x / kWarpgroupThreads, 0);
  if (role == 0) {
    regs_release<kProducerRegs>();
    producer_loop(p, base, m_tile);
  } else {
    regs_claim<kConsumerRegs>();
    if (role == 1)
      softmax_wg_loop(p, base, scale_smem, inv_sum_smem, m_tile);
    else
      helper_wg_loop(p, base, scale_smem, inv_sum_smem, m_tile);
  }
#else
  (void)p;
#endif
}

// Whether device `dev` runs this kernel: compute capability 9.0 and a binary
// that carries sm_90a code (the attribute call fails otherwise). Cached per
// device: 0 unknown, 1 yes, 2 no.
bool device_ready(int dev) {
  static std::atomic<int> state[64];
  if (dev < 0 || dev >= 64) return false;
  int s = state[dev].load(std::memory_order_acquire);
  if (s == 0) {
    int major = 0, minor = 0;
    bool ok = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
              cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
              major == 9 && minor == 0;
    if (ok)
      ok = cudaFuncSetAttribute(decode_bf16_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                int(smem::kDynamicBytes)) == cudaSuccess;
    if (!ok) (void)cudaGetLastError();  // a refused attribute is an answer, not an error to pass on
    s = ok ? 1 : 2;
    state[dev].store(s, std::memory_order_release);
  }
  return s == 1;
}

}  // namespace sm90

bool sm90_decode_launch(const DecodeParams& p, cudaStream_t stream) {
  if (p.q_format != MLA_FORMAT_BF16 || p.kv_format != MLA_FORMAT_BF16) return false;
  int dev = -1;
  if (cudaGetDevice(&dev) != cudaSuccess || !sm90::device_ready(dev)) return false;
  if (p.num_parts <= 0 || p.max_m_tiles <= 0) return true;  // nothing to do
  const dim3 grid(unsigned(p.num_parts), unsigned(p.max_m_tiles));
  sm90::decode_bf16_kernel<<<grid, sm90::kThreads, sm90::smem::kDynamicBytes, stream>>>(p);
  return true;  // launch errors surface through cudaGetLastError / the stream, as for any kernel
}

}  // namespace mla::cuda_impl
