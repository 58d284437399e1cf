// sm90_fp8v_kernel.cuh - the register-V sm_90a kernel for (fp8_rope640 Q,
// fp8_rope640 KV) and its host-side launch. Roles: fp8_producer_loop
// (sm90_fp8_producer.cuh) with the Fp8vSmem layout, sm90_fp8v_softmax_wg.cuh,
// sm90_fp8v_helper_wg.cuh; design: sm90_fp8v_config.cuh.
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
#include "sm90_fp8_producer.cuh"
#include "sm90_fp8v_config.cuh"
#include "sm90_fp8v_helper_wg.cuh"
#include "sm90_fp8v_softmax_wg.cuh"
#include "sm90_sync.cuh"
#include "sm90_tma_map.h"

namespace mla::cuda_impl::sm90 {

// kv_map / box_rows: the TMA view of the pool as bytes (box_rows = 0: cp.async only).
__global__ void __launch_bounds__(kThreads, 1)
    decode_fp8v_kernel(const __grid_constant__ DecodeParams p, const __grid_constant__ CUtensorMap kv_map,
                       int32_t box_rows) {
#if MLA_SM90_DEVICE
  using Sm = Fp8vSmem;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = ((raw + 1023u) & ~1023u);  // swizzle atoms need 1024-byte alignment
  const int32_t m_tile = int32_t(blockIdx.y);

  if (threadIdx.x == 0) {
    for (uint32_t s = 0; s < kVStages; ++s) {
      mbar_init(base + Sm::kBarFull + 8 * s, kFullArrivals);
      mbar_init(base + Sm::kBarEmpty + 8 * s, kFp8vEmptyArrivals);
    }
    mbar_init(base + Sm::kBarQFull, kQFullArrivals);
    mbar_init(base + Sm::kBarQEmpty, kFp8vQEmptyArrivals);
#if MLA_SM90_FP8_PROFILE
    for (uint32_t i = 0; i < kFp8ProfSlots; ++i)
      asm volatile("st.shared.u64 [%0], %1;" ::"r"(base + Sm::kProf + 8 * i), "l"(0ull) : "memory");
#endif
    mbar_init_fence();
  }
  __syncthreads();
  wait_for_primary_grid();  // PDL launch (pdl.cuh): no global access before the previous grid has ended

  // Warp-uniform role through a shuffle (keeps the wgmma out of "divergent" code).
  const uint32_t role = __shfl_sync(0xffffffffu, threadIdx.x / kWarpgroupThreads, 0);
  if (role == 0) {
    regs_release<kFp8ProducerRegs>();
    fp8_producer_loop<true, Sm, kVStages>(p, &kv_map, box_rows, base, m_tile);
  } else {
    if (role == 1) {
      regs_claim<kFp8vSoftmaxRegs>();
      fp8v_softmax_wg_loop(p, base, m_tile);
    } else {
      regs_claim<kFp8vHelperRegs>();
      fp8v_helper_wg_loop(p, base, m_tile);
    }
  }
#else
  (void)p;
  (void)kv_map;
  (void)box_rows;
#endif
}

#if MLA_SM90_FP8_PROFILE
// The phase names of Fp8Prof's marks in the two consumer warpgroups.
inline const char* const kFp8vProfNames[2][7] = {{"full", "S", "softmax", "tilefree", "p+pready", "pv", "-"},
                                                 {"full", "tilefree", "pready", "rescale", "pv", "-", "-"}};
#endif

// Launches the kernel; false (nothing launched) where the device cannot run it.
inline bool launch_fp8v(const DecodeParams& p, cudaStream_t stream) {
  if (p.kv_format != MLA_FORMAT_FP8_ROPE640 || p.q_format != MLA_FORMAT_FP8_ROPE640) return false;
  int dev = -1;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (!kernel_device_ready<decode_fp8v_kernel>(dev, int(Fp8vSmem::kDynamicBytes))) return false;
  if (p.num_parts <= 0 || p.max_m_tiles <= 0) return true;  // nothing to do
  CUtensorMap map;
  const int32_t box_rows = fp8_kv_map_for_launch(&map, p.kv_pool, p.num_pages, p.page_size, kFp8KvRowGroups);
  const dim3 grid(unsigned(p.num_parts), unsigned(p.max_m_tiles));
  (void)launch_maybe_pdl(decode_fp8v_kernel, grid, dim3(kThreads), Fp8vSmem::kDynamicBytes, true, stream, p, map,
                         box_rows);
#if MLA_SM90_FP8_PROFILE
  fp8_profile_print(stream, "fp8v", grid, kFp8vProfNames);
#endif
  return true;
}

}  // namespace mla::cuda_impl::sm90
