// sm90_kernel.cuh - the sm_90a decode kernel for (bf16 Q, bf16 KV) and its
// host-side launch, as templates over the Variant (sm90_config.cuh): the
// library instantiates kVariantFull (sm90_decode_bf16.cu); the dev harness
// also the timing variants. The roles live in sm90_producer.cuh,
// sm90_softmax_wg.cuh and sm90_helper_wg.cuh.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstring>

#include "../decode_params.h"
#include "../dev_timeline.cuh"
#include "../pdl.cuh"
#include "sm90_config.cuh"
#include "sm90_device_ready.cuh"
#include "sm90_helper_wg.cuh"
#include "sm90_producer.cuh"
#include "sm90_softmax_wg.cuh"
#include "sm90_sync.cuh"
#include "sm90_tma_map.h"

namespace mla::cuda_impl::sm90 {

// kv_map / box_rows: the TMA view of the pool (box_rows = 0: no TMA, cp.async only).
// prefetch_tiles: how far ahead of the shared-memory stages KV rows are
// prefetched into L2 (0: not at all).
template <int kVariant>
__global__ void __launch_bounds__(kThreads, 1)
    decode_bf16_kernel(const __grid_constant__ DecodeParams p, const __grid_constant__ CUtensorMap kv_map,
                       int32_t box_rows, int32_t prefetch_tiles) {
#if MLA_SM90_DEVICE
#if defined(MLA_DEV_SKIP) && (MLA_DEV_SKIP & 4)
  return;  // measurement builds: an empty decode (api.cpp, MLA_DEV_SKIP)
#endif
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t pad = ((raw + 1023u) & ~1023u) - raw;  // swizzle atoms need 1024-byte alignment
  uint8_t* smem_base = smem_raw + pad;
  const uint32_t base = raw + pad;
  const int32_t m_tile = int32_t(blockIdx.y);
  if (threadIdx.x == 0) MLA_DEV_STAMP_DECODE(kEntry);

  if (threadIdx.x == 0) {
    for (uint32_t s = 0; s < kStages; ++s) {
      for (uint32_t part = 0; part < kFullParts; ++part) mbar_init(full_bar(base, s, part), kFullArrivals);
      mbar_init(base + smem::kBarEmpty + 8 * s, kEmptyArrivals);
    }
    mbar_init(base + smem::kBarQFull, kQFullArrivals);
    mbar_init(base + smem::kBarQEmpty, kQEmptyArrivals);
    mbar_init_fence();
    // The per-tile non-finite flags start lowered (sm90_softmax_wg.cuh).
    reinterpret_cast<uint32_t*>(smem_base + smem::kNanFlag)[0] = 0u;
    reinterpret_cast<uint32_t*>(smem_base + smem::kNanFlag)[1] = 0u;
  }
  __syncthreads();
  // Launched with PDL (launch_bf16): the set-up above overlaps the end of the
  // grid before (the planner, or the previous layer's combine); nothing in
  // global memory is read or written before it has ended.
  wait_for_primary_grid();
  if (threadIdx.x == 0) MLA_DEV_STAMP_DECODE(kWaited);

  float* scale_smem = reinterpret_cast<float*>(smem_base + smem::kScale);
  float* inv_sum_smem = reinterpret_cast<float*>(smem_base + smem::kInvSum);
  // The role index through a shuffle: the compiler then knows it is
  // warp-uniform, and keeps the wgmma of the consumers out of "divergent" code.
  const uint32_t role = __shfl_sync(0xffffffffu, threadIdx.x / kWarpgroupThreads, 0);
  // Parts of a stage's landed signal: without TMA every row comes by
  // cp.async and all parts would land together, so one barrier does.
  const uint32_t parts = box_rows > 0 ? kTmaParts : 1u;
  if (role == 0) {
    regs_release<kProducerRegs>();
    producer_loop<kVariant>(p, &kv_map, box_rows, prefetch_tiles, base, m_tile);
  } else {
    regs_claim<kConsumerRegs>();
    if (role == 1)
      softmax_wg_loop<kVariant>(p, base, scale_smem, inv_sum_smem, m_tile, parts);
    else
      helper_wg_loop<kVariant>(p, base, scale_smem, inv_sum_smem, m_tile, parts);
  }
#else
  (void)p;
  (void)kv_map;
  (void)box_rows;
  (void)prefetch_tiles;
#endif
}

// Launches the variant; false (nothing launched) when this path does not
// apply. box_cap bounds the TMA box height, prefetch_tiles the L2 prefetch
// distance (the library's choices are in sm90_decode_bf16.cu).
template <int kVariant>
bool launch_bf16(const DecodeParams& p, cudaStream_t stream, int32_t box_cap, int32_t prefetch_tiles) {
  if (p.q_format != MLA_FORMAT_BF16 || p.kv_format != MLA_FORMAT_BF16) return false;
  int dev = -1;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (!kernel_device_ready<decode_bf16_kernel<kVariant>>(dev, int(smem::kDynamicBytes))) return false;
  if (p.num_parts <= 0 || p.max_m_tiles <= 0) return true;  // nothing to do
  // The TMA view of the pool; without it (tiny pages, or a driver that will
  // not encode the map) the producer gathers every row with cp.async.
  CUtensorMap map;
  std::memset(&map, 0, sizeof(map));
  int32_t box_rows = tma_box_rows(p.page_size, box_cap);
  const int64_t pool_rows = int64_t(p.num_pages) * p.page_size;
  if (box_rows > 0 &&
      (pool_rows <= 0 || pool_rows > INT32_MAX || !encode_kv_map(&map, p.kv_pool, pool_rows, box_rows, kKvRowGroups)))
    box_rows = 0;
  const dim3 grid(unsigned(p.num_parts), unsigned(p.max_m_tiles));
  // A failed launch leaves its error as the thread's last CUDA error (the
  // helper returns before clearing it), which launch_decode reports.
  (void)launch_maybe_pdl(decode_bf16_kernel<kVariant>, grid, dim3(kThreads), smem::kDynamicBytes, true, stream, p,
                         map, box_rows, prefetch_tiles);
  return true;
}

}  // namespace mla::cuda_impl::sm90
