// sm90_fp8v3_kernel.cuh - the three-consumer register-V sm_90a kernel for
// (fp8_rope640 Q, fp8_rope640 KV) and its host-side launch. Roles:
// fp8_producer_loop (sm90_fp8_producer.cuh) with the Fp8v3Smem layout,
// sm90_fp8v3_wg.cuh; design and measurements: sm90_fp8v3_config.cuh.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "../decode_params.h"
#include "../pdl.cuh"
#include "sm90_config.cuh"
#include "sm90_device_ready.cuh"
#include "sm90_fp8_producer.cuh"
#include "sm90_fp8v3_config.cuh"
#include "sm90_fp8v3_wg.cuh"
#include "sm90_sync.cuh"
#include "sm90_tma_map.h"

namespace mla::cuda_impl::sm90 {

// The CTA of a three-consumer fp8-KV kernel over the layout Sm with kNStages
// FP8 stages: barrier init, then the roles: WG 0 fp8_producer_loop, WG 1
// sm_loop(base, m_tile), WG 2 / 3 pv_loop(base, m_tile, w = 0 / 1), each
// after its setmaxnreg. Used by decode_fp8v3_kernel; a template so that a
// variant with another layout, stage count, WG 1 loop or P.V can share it (the
// FP16-copy P.V variant of the twelfth session did, 10% slower: removed, its
// code is in b6dccd4; docs/perf_notes.md "Lead, thirteenth session").
template <class Sm, uint32_t kNStages, uint32_t kProdRegs, uint32_t kSmRegs, uint32_t kPvRegsN, class SmLoop,
          class PvLoop>
__device__ __forceinline__ void fp8_three_consumer_cta(const DecodeParams& p, const CUtensorMap* kv_map,
                                                       int32_t box_rows, SmLoop sm_loop, PvLoop pv_loop) {
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = ((raw + 1023u) & ~1023u);  // swizzle atoms need 1024-byte alignment
  const int32_t m_tile = int32_t(blockIdx.y);

  if (threadIdx.x == 0) {
    for (uint32_t s = 0; s < kNStages; ++s) {
      mbar_init(base + Sm::kBarFull + 8 * s, kFullArrivals);
      mbar_init(base + Sm::kBarEmpty + 8 * s, kV3EmptyArrivals);
    }
    mbar_init(base + Sm::kBarQFull, kQFullArrivals);
    mbar_init(base + Sm::kBarQEmpty, kV3QEmptyArrivals);
    for (uint32_t b = 0; b < 2; ++b) {
      mbar_init(base + Sm::kBarPReady + 8 * b, kV3PReadyArrivals);
      mbar_init(base + Sm::kBarPFree + 8 * b, kV3PFreeArrivals);
    }
#if MLA_SM90_FP8_PROFILE
    for (uint32_t i = 0; i < Sm::kProfSlots; ++i)
      asm volatile("st.shared.u64 [%0], %1;" ::"r"(base + Sm::kProf + 8 * i), "l"(0ull) : "memory");
#endif
    mbar_init_fence();
  }
  if (threadIdx.x < 64) asm volatile("st.shared.f32 [%0], %1;" ::"r"(base + Sm::kZero + 4u * threadIdx.x), "f"(0.f) : "memory");
  __syncthreads();
  wait_for_primary_grid();  // PDL launch (pdl.cuh): no global access before the previous grid has ended

  // Warp-uniform role through a shuffle (keeps the wgmma out of "divergent" code).
  const uint32_t role = __shfl_sync(0xffffffffu, threadIdx.x / kWarpgroupThreads, 0);
  if (role == 0) {
    regs_release<kProdRegs>();
    fp8_producer_loop<true, Sm, kNStages>(p, kv_map, box_rows, base, m_tile);
  } else if (role == 1) {
    regs_claim<kSmRegs>();
    sm_loop(base, m_tile);
  } else {
    regs_claim<kPvRegsN>();
    pv_loop(base, m_tile, role - 2);
  }
}

// kv_map / box_rows: the TMA view of the pool as bytes (box_rows = 0: cp.async only).
__global__ void __launch_bounds__(kV3Threads, 1)
    decode_fp8v3_kernel(const __grid_constant__ DecodeParams p, const __grid_constant__ CUtensorMap kv_map,
                        int32_t box_rows) {
#if MLA_SM90_DEVICE
  fp8_three_consumer_cta<Fp8v3Smem, kV3Stages, kV3ProducerRegs, kV3SoftmaxRegs, kV3PvRegs>(
      p, &kv_map, box_rows, [&](uint32_t base, int32_t m_tile) { fp8v3_softmax_wg_loop(p, base, m_tile); },
      [&](uint32_t base, int32_t m_tile, uint32_t w) { fp8v3_pv_wg_loop(p, base, m_tile, w); });
#else
  (void)p;
  (void)kv_map;
  (void)box_rows;
#endif
}

// The phase names of Fp8Prof's marks in the three consumer warpgroups
// (MLA_SM90_FP8_PROFILE builds print them).
inline const char* const kFp8v3ProfNames[3][7] = {
    {"full", "S", "softmax", "pfree", "p+pready", "-", "loop"},
    {"full", "pready", "rescale", "pv", "out+pfree", "loop", "-"},
    {"full", "pready", "rescale", "pv", "out+pfree", "loop", "-"}};

// Launches a three-consumer kernel (kKernel with kSmemBytes of dynamic shared
// memory); false (nothing launched) where the device cannot run it.
template <auto kKernel, uint32_t kSmemBytes>
inline bool launch_fp8_three_consumer(const DecodeParams& p, cudaStream_t stream, const char* label,
                                      const char* const (&prof_names)[3][7]) {
  if (p.kv_format != MLA_FORMAT_FP8_ROPE640 || p.q_format != MLA_FORMAT_FP8_ROPE640) return false;
  int dev = -1;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (!kernel_device_ready<kKernel>(dev, int(kSmemBytes))) return false;
  if (p.num_parts <= 0 || p.max_m_tiles <= 0) return true;  // nothing to do
  CUtensorMap map;
  const int32_t box_rows = fp8_kv_map_for_launch(&map, p.kv_pool, p.num_pages, p.page_size, kFp8KvRowGroups);
  const dim3 grid(unsigned(p.num_parts), unsigned(p.max_m_tiles));
  (void)launch_maybe_pdl(kKernel, grid, dim3(kV3Threads), kSmemBytes, true, stream, p, map, box_rows);
#if MLA_SM90_FP8_PROFILE
  fp8_profile_print(stream, label, grid, prof_names);
#else
  (void)label;
  (void)prof_names;
#endif
  return true;
}

inline bool launch_fp8v3(const DecodeParams& p, cudaStream_t stream) {
  return launch_fp8_three_consumer<decode_fp8v3_kernel, Fp8v3Smem::kDynamicBytes>(p, stream, "fp8v3",
                                                                                  kFp8v3ProfNames);
}

}  // namespace mla::cuda_impl::sm90
