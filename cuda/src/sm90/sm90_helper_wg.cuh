// sm90_helper_wg.cuh - warpgroup 2 of the sm_90a kernel: the second half of
// O (value columns 256..511). Per tile it waits for WG 1's P and rescale
// factors, rescales O, runs 4 wgmma m64n256k16 with P and V both from shared
// memory, then frees the P buffer and its share of the KV stage.
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_epilogue.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"

namespace mla::cuda_impl::sm90 {

template <int kVariant>
__device__ __forceinline__ void helper_wg_loop(const DecodeParams& p, uint32_t base, const float* scale_smem,
                                               const float* inv_sum_smem, int32_t m_tile, uint32_t parts) {
  const uint32_t tid = threadIdx.x - 2 * kWarpgroupThreads;
  const uint32_t lane = tid & 31;
  const RowPair rp = thread_rows(tid);
  const uint64_t p_desc = make_sw128_desc(base + smem::kP, 16, 1024);

  float o[128];
  uint32_t tile_count = 0, items_done = 0;
  const int32_t end = p.part_begin[blockIdx.x + 1];
  for (int32_t index = p.part_begin[blockIdx.x]; index < end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0) continue;
#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] = 0.f;

    // The item's first PFree: the softmax WG waits on PFree before every
    // tile's hand-off, and this WG's arrivals come after each P.V, so the
    // first tile's is here.
    if (kVariant != kVariantNoCompute && v.n_tiles > 0) named_sync(kBarPFree, kConsumerThreads);
    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kStages;
      const uint32_t tile = base + smem::kKV + stage * kTileBytes;
      if constexpr (kVariant == kVariantNoCompute) {  // dev timing only: consume the tile untouched
        for (uint32_t part = 0; part < parts; ++part) mbar_wait(full_bar(base, stage, part), (tile_count / kStages) & 1);
        if (lane == 0) mbar_arrive(base + smem::kBarEmpty + 8 * stage);
        continue;
      }
#if MLA_SM90_NONFINITE_CHECK
      // The tile's non-finite flag, raised (or not) before the PFree just
      // passed: the softmax WG cleans the tile's V rows and meets this WG at
      // kBarNanKeys (sm90_softmax_wg.cuh).
      uint32_t raised;
      asm volatile("ld.shared.u32 %0, [%1];" : "=r"(raised) : "r"(base + smem::kNanFlag + 4 * (tile_count & 1u)) : "memory");
      if (raised) named_sync(kBarNanKeys, kConsumerThreads);
#endif
      named_sync(kBarPReady, kConsumerThreads);
      const float alpha0 = scale_smem[rp.r0], alpha1 = scale_smem[rp.r0 + 8];
#pragma unroll
      for (int i = 0; i < 128; ++i) o[i] *= ((i >> 1) & 1) ? alpha1 : alpha0;
      // WG 1 saw this tile land; waiting here too makes the copies visible to
      // this warpgroup on its own (the wait returns at once).
#pragma unroll
      for (uint32_t part = 0; part < parts; ++part) mbar_wait(full_bar(base, stage, part), (tile_count / kStages) & 1);
      fence_proxy_async();

      const uint64_t v_desc = make_sw128_desc(tile + 4 * kKvBlockStride, kKvBlockStride, kKvGroupStride);
      pin_regs(o);
      wgmma_fence();
#pragma unroll
      for (uint32_t kk = 0; kk < 4; ++kk)  // 16 keys = two 8-row groups a k-step
        wgmma_m64n256k16_ss_vt(o, desc_advance(p_desc, kk * 32), desc_advance(v_desc, kk * 2 * kKvGroupStride), 1u);
      wgmma_commit();
      wgmma_wait<0>();
      pin_regs(o);
      if (lane == 0) mbar_arrive(base + smem::kBarEmpty + 8 * stage);
      named_sync(kBarPFree, kConsumerThreads);  // the next tile's (or the item end's) PFree
    }

    named_sync(kBarItemEnd, kConsumerThreads);
    const float* inv_buf = inv_sum_smem + 64 * (items_done & 1);
    const float inv_sum[2] = {inv_buf[rp.r0], inv_buf[rp.r0 + 8]};
    store_output_half(p, v, rp, 256, o, inv_sum);
    ++items_done;
  }
}

}  // namespace mla::cuda_impl::sm90
