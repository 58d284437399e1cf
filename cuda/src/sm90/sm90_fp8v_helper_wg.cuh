// sm90_fp8v_helper_wg.cuh - warpgroup 2 of the register-V fp8-KV kernel
// (sm90_fp8v_config.cuh): the O^T m-tiles from kFp8vWg1MTiles on.
//
// Per tile: wait for the tile (its V^T fragments are read with ldmatrix)
// -> (t > 0) TileFree -> PReady -> rescale O^T -> O^T share, releasing the
// stage after its last fragment load, finished before the next TileFree.
// Per item: ItemEnd, then its share of the output. The barriers are met in
// WG 1's order (sm90_fp8v_softmax_wg.cuh).
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_fp8v_config.cuh"
#include "sm90_fp8v_pv.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"

namespace mla::cuda_impl::sm90 {

__device__ __forceinline__ void fp8v_helper_wg_loop(const DecodeParams& p, uint32_t base, int32_t m_tile) {
  using Sm = Fp8vSmem;
  const uint32_t tid = threadIdx.x - 2 * kWarpgroupThreads;
  const uint32_t warp = tid >> 5, lane = tid & 31;
  const uint64_t p_desc = make_sw128_desc(base + Sm::kP, 16, 1024);

  float o[kFp8vWg2MTiles][32];
  uint32_t tile_count = 0, items_done = 0;
  Fp8Prof prof(base + Sm::kProf, 1, tid);  // MLA_SM90_FP8_PROFILE only
  // The part's end is read again per item (an L1 hit) rather than held in a
  // register across the tile loop.
  const volatile int32_t* part_end = p.part_begin + blockIdx.x + 1;
  for (int32_t index = p.part_begin[blockIdx.x]; index < *part_end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0) continue;
#pragma unroll
    for (uint32_t i = 0; i < kFp8vWg2MTiles; ++i)
#pragma unroll
      for (int x = 0; x < 32; ++x) o[i][x] = 0.f;

    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kVStages;
      const uint32_t tile = base + Sm::kKV + stage * kFp8TileBytes;
      prof.mark(5);
      mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kVStages) & 1);
      prof.mark(0);
      if (t > 0) named_sync(kBarTileFree, kConsumerThreads);
      prof.mark(1);
      named_sync(kBarPReady, kConsumerThreads);
      prof.mark(2);
      fp8v_rescale(o, base + Sm::kScale, lane);
      prof.mark(3);
      fp8v_pv<kFp8vWg2MTiles, kFp8vWg2Bufs>(o, tile, warp, lane, kFp8vWg1MTiles, p_desc, base + Sm::kBarEmpty + 8 * stage);
      prof.mark(4);
      prof.tile_done();
    }

    named_sync(kBarItemEnd, kConsumerThreads);
    fp8v_store_output(p, v, warp, lane, kFp8vWg1MTiles, o, base + Sm::kInvSum + 256u * (items_done & 1));
    ++items_done;
  }
  prof.report();
}

}  // namespace mla::cuda_impl::sm90
