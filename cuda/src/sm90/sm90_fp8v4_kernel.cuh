// sm90_fp8v4_kernel.cuh - the FP16-copy P.V variant of the three-consumer
// sm_90a kernel for (fp8_rope640 Q, fp8_rope640 KV) and its host-side
// launch: fp8_three_consumer_cta (sm90_fp8v3_kernel.cuh) with the Fp8v4Smem
// layout and fp8v4_pv_wg_loop (sm90_fp8v4_wg.cuh); design:
// sm90_fp8v4_config.cuh.
// NOT yet run on a GPU.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_device_ready.cuh"
#include "sm90_fp8_producer.cuh"
#include "sm90_fp8v3_kernel.cuh"
#include "sm90_fp8v4_config.cuh"
#include "sm90_fp8v4_softmax_wg.cuh"
#include "sm90_fp8v4_wg.cuh"
#include "sm90_sync.cuh"
#include "sm90_tma_map.h"

namespace mla::cuda_impl::sm90 {

// kv_map / box_rows: the TMA view of the pool as bytes (box_rows = 0: cp.async only).
__global__ void __launch_bounds__(kV4Threads, 1)
    decode_fp8v4_kernel(const __grid_constant__ DecodeParams p, const __grid_constant__ CUtensorMap kv_map,
                        int32_t box_rows) {
#if MLA_SM90_DEVICE
  fp8_three_consumer_cta<Fp8v4Smem, kV4Stages, kV4ProducerRegs, kV4SoftmaxRegs, kV4PvRegs>(
      p, &kv_map, box_rows,
      [&](uint32_t base, int32_t m_tile) {
        if constexpr (kV4Overlap)
          fp8v4_softmax_overlap_loop<Fp8v4Smem, kV4Stages>(p, base, m_tile);
        else
          fp8v3_softmax_wg_loop_in<Fp8v4Smem, kV4Stages>(p, base, m_tile);
      },
      [&](uint32_t base, int32_t m_tile, uint32_t w) { fp8v4_pv_wg_loop(p, base, m_tile, w); });
#else
  (void)p;
  (void)kv_map;
  (void)box_rows;
#endif
}

// The phase names of Fp8Prof's marks in the three consumer warpgroups.
inline const char* const kFp8v4ProfNames[3][7] = {
    {"full", "S", "softmax", "pfree", "p+pready", "-", "loop"},
    {"full", "convert", "pready", "rescale+pv", "out+pfree", "loop", "-"},
    {"full", "convert", "pready", "rescale+pv", "out+pfree", "loop", "-"}};

inline const char* const kFp8v4OverlapProfNames[3][7] = {
    {"max+full+issue", "exp..pack", "S end+release", "pfree", "p+pready", "-", "loop"},
    {"full", "convert", "pready", "rescale+pv", "out+pfree", "loop", "-"},
    {"full", "convert", "pready", "rescale+pv", "out+pfree", "loop", "-"}};

inline bool launch_fp8v4(const DecodeParams& p, cudaStream_t stream) {
  static_assert(kV4Threads == kV3Threads, "launch_fp8_three_consumer launches kV3Threads");
  return launch_fp8_three_consumer<decode_fp8v4_kernel, Fp8v4Smem::kDynamicBytes>(
      p, stream, kV4Overlap ? "fp8v4 (overlap)" : "fp8v4", kV4Overlap ? kFp8v4OverlapProfNames : kFp8v4ProfNames);
}

}  // namespace mla::cuda_impl::sm90
