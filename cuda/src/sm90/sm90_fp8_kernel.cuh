// sm90_fp8_kernel.cuh - the sm_90a decode kernel for an fp8_rope640 KV cache
// (Q fp8_rope640 or bf16) and its host-side launch. Roles:
// sm90_fp8_producer.cuh, sm90_fp8_softmax_wg.cuh, sm90_fp8_helper_wg.cuh;
// shared-memory map: sm90_fp8_config.cuh.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdio>
#include <cstring>

#include "../decode_params.h"
#include "../pdl.cuh"
#include "sm90_config.cuh"
#include "sm90_device_ready.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8_helper_wg.cuh"
#include "sm90_fp8_producer.cuh"
#include "sm90_fp8_softmax_wg.cuh"
#include "sm90_sync.cuh"
#include "sm90_tma_map.h"

namespace mla::cuda_impl::sm90 {

// kv_map / box_rows: the TMA view of the pool as bytes (box_rows = 0: cp.async only).
template <bool kQFp8>
__global__ void __launch_bounds__(kThreads, 1)
    decode_fp8kv_kernel(const __grid_constant__ DecodeParams p, const __grid_constant__ CUtensorMap kv_map,
                        int32_t box_rows) {
#if MLA_SM90_DEVICE
  using Sm = Fp8Smem<kQFp8>;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t pad = ((raw + 1023u) & ~1023u) - raw;  // swizzle atoms need 1024-byte alignment
  uint8_t* smem_base = smem_raw + pad;
  const uint32_t base = raw + pad;
  const int32_t m_tile = int32_t(blockIdx.y);

  if (threadIdx.x == 0) {
    for (uint32_t s = 0; s < kStages; ++s) {
      mbar_init(base + Sm::kBarFull + 8 * s, kFullArrivals);
      mbar_init(base + Sm::kBarEmpty + 8 * s, kFp8EmptyArrivals);
    }
    mbar_init(base + Sm::kBarQFull, kQFullArrivals);
    mbar_init(base + Sm::kBarQEmpty, kFp8QEmptyArrivals);
#if MLA_SM90_FP8_PROFILE
    for (uint32_t i = 0; i < kFp8ProfSlots; ++i) reinterpret_cast<unsigned long long*>(smem_base + Sm::kProf)[i] = 0;
#endif
    mbar_init_fence();
  }
  __syncthreads();
  wait_for_primary_grid();  // PDL launch (pdl.cuh): no global access before the previous grid has ended

  float* scale_smem = reinterpret_cast<float*>(smem_base + Sm::kScale);
  float* inv_sum_smem = reinterpret_cast<float*>(smem_base + Sm::kInvSum);
  // Warp-uniform role through a shuffle (keeps the wgmma out of "divergent" code).
  const uint32_t role = __shfl_sync(0xffffffffu, threadIdx.x / kWarpgroupThreads, 0);
  if (role == 0) {
    regs_release<kFp8ProducerRegs>();
    fp8_producer_loop<kQFp8>(p, &kv_map, box_rows, base, m_tile);
  } else {
    regs_claim<kFp8ConsumerRegs>();
    if (role == 1)
      fp8_softmax_wg_loop<kQFp8>(p, base, scale_smem, inv_sum_smem, m_tile);
    else
      fp8_helper_wg_loop<kQFp8>(p, base, scale_smem, inv_sum_smem, m_tile);
  }
#else
  (void)p;
  (void)kv_map;
  (void)box_rows;
#endif
}

#if MLA_SM90_FP8_PROFILE
// The phase names of Fp8Prof's marks in the two consumer warpgroups.
inline const char* const kFp8ProfNames[2][7] = {
    {"pv-wait+tilefree+item", "full", kFp8SplitConversion ? "convert+vready" : "vready", "S", "softmax", "p+pready",
     "pv-issue"},
    {"tilefree+item", "full", "convert", "vready", "pready", "pv", "-"}};
#endif

// Launches the kernel for an fp8_rope640 KV cache; false (nothing launched)
// for other pairs or devices.
template <bool kQFp8>
bool launch_fp8kv_q(const DecodeParams& p, cudaStream_t stream) {
  int dev = -1;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (!kernel_device_ready<decode_fp8kv_kernel<kQFp8>>(dev, int(Fp8Smem<kQFp8>::kDynamicBytes))) return false;
  if (p.num_parts <= 0 || p.max_m_tiles <= 0) return true;  // nothing to do
  CUtensorMap map;
  const int32_t box_rows = fp8_kv_map_for_launch(&map, p.kv_pool, p.num_pages, p.page_size, kFp8KvRowGroups);
  const dim3 grid(unsigned(p.num_parts), unsigned(p.max_m_tiles));
  (void)launch_maybe_pdl(decode_fp8kv_kernel<kQFp8>, grid, dim3(kThreads), Fp8Smem<kQFp8>::kDynamicBytes, true,
                         stream, p, map, box_rows);
#if MLA_SM90_FP8_PROFILE
  fp8_profile_print(stream, kQFp8 ? "fp8 (FP16 copy) q=fp8" : "fp8 (FP16 copy) q=bf16", grid, kFp8ProfNames);
#endif
  return true;
}

inline bool launch_fp8kv(const DecodeParams& p, cudaStream_t stream) {
  if (p.kv_format != MLA_FORMAT_FP8_ROPE640) return false;
  if (p.q_format == MLA_FORMAT_FP8_ROPE640) return launch_fp8kv_q<true>(p, stream);
  if (p.q_format == MLA_FORMAT_BF16) return launch_fp8kv_q<false>(p, stream);
  return false;
}

}  // namespace mla::cuda_impl::sm90
