// sm90_fp8_helper_wg.cuh - warpgroup 2 of the fp8-KV kernel: converts each
// tile's E4M3 content to FP16 (once for all 64 rows of the M tile; with
// kFp8SplitConversion only key rows 32..63, WG 1 the others), then the
// second half of O (value columns 256..511).
//
// Per tile: (t > 0) TileFree: both warpgroups' P.V of the previous tile are
// done, so the FP16 copy may be overwritten -> wait for the tile -> convert
// into the FP16 copy, copy the 64 sigma_k beside it (NaN for a key with a NaN
// code) -> hand both to WG 1 (VReady) -> release the stage -> wait for P
// (PReady) -> rescale O -> 4 HGMMA m64n256k16 (FP16; P and V from shared
// memory) -> wait for them. The conversion of tile t is on the path to WG 1's
// S of tile t. Every hand-off is a barrier.sync on both sides, met in the
// same order as in WG 1 (sm90_fp8_softmax_wg.cuh); an item's ItemEnd serves
// as the next item's first TileFree. Not yet run on a GPU in this form.
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_epilogue.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8_tile.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"

namespace mla::cuda_impl::sm90 {

template <bool kQFp8>
__device__ __forceinline__ void fp8_helper_wg_loop(const DecodeParams& p, uint32_t base, const float* scale_smem,
                                                   const float* inv_sum_smem, int32_t m_tile) {
  using Sm = Fp8Smem<kQFp8>;
  const uint32_t tid = threadIdx.x - 2 * kWarpgroupThreads;
  const uint32_t lane = tid & 31;
  const RowPair rp = thread_rows(tid);
  const uint64_t p_desc = make_sw128_desc(base + Sm::kP, 16, 1024);
  const uint64_t v_desc = make_sw128_desc(base + Sm::kV + 4 * kColBlockBytes, kColBlockBytes, 1024);
  float* sigma_s = reinterpret_cast<float*>(__cvta_shared_to_generic(base + Sm::kSigmaS));
  const float* sigma_k = reinterpret_cast<const float*>(__cvta_shared_to_generic(base + Sm::kSigmaK));

  float o[128];
  uint32_t tile_count = 0, items_done = 0;
  Fp8Prof prof(base + Sm::kProf, 1, tid);  // MLA_SM90_FP8_PROFILE only
  // The part's end is read again per item (an L1 hit) rather than held: the
  // conversion's 32 chunk addresses live across the loop, and at 224
  // registers the end was the value ptxas spilled.
  const volatile int32_t* part_end = p.part_begin + blockIdx.x + 1;
  for (int32_t index = p.part_begin[blockIdx.x]; index < *part_end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0) continue;
#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] = 0.f;

    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kStages;
      const uint32_t tile = base + Sm::kKV + stage * kFp8TileBytes;
      // WG 1's P.V of the previous tile has read the FP16 content and its
      // softmax the sigma_k copy (this WG's own P.V waited at the end of the
      // previous tile).
      if (t > 0) named_sync(kBarTileFree, kConsumerThreads);
      prof.mark(0);
      mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kStages) & 1);
      prof.mark(1);
      if constexpr ((kFp8DevVariant & 1) != 0) {
        // measurement build: no conversion
      } else if constexpr (kFp8SplitConversion) {
        // Key rows 32..63; WG 1 converts rows 0..31 beside it.
        convert_tile_share(tile, base + Sm::kV, base + Sm::kSigmaK + stage * 256, sigma_s, tid, 1);
      } else {
        const bool has_nan = convert_content_tile<true>(tile, base + Sm::kV, tid);
        // The per-key factors beside the FP16 copy, so that WG 1 can give the
        // stage back right after S. A key with a NaN code gets a NaN logit
        // factor (S ran on the FP16 copy, whose conversion made it finite).
        if ((lane & 8) == 0) {
          const uint32_t row = conversion_row(tid);
          const float sk = sigma_k[stage * 64 + row];
          sigma_s[row] = has_nan ? __int_as_float(0x7fc00000) : sk;
        }
        fence_proxy_async();  // the FP16 copy is read by wgmma (async proxy)
      }
      prof.mark(2);
      named_sync(kBarVReady, kConsumerThreads);
      mbar_arrive(base + Sm::kBarEmpty + 8 * stage);  // every thread (kFp8EmptyArrivals)
      prof.mark(3);

      named_sync(kBarPReady, kConsumerThreads);
      prof.mark(4);
      const float alpha0 = scale_smem[rp.r0], alpha1 = scale_smem[rp.r0 + 8];
#pragma unroll
      for (int i = 0; i < 128; ++i) o[i] *= ((i >> 1) & 1) ? alpha1 : alpha0;
      pin_regs(o);
      wgmma_fence();
#pragma unroll
      for (uint32_t kk = 0; kk < 4; ++kk)
        wgmma_m64n256k16_f16_ss_vt(o, desc_advance(p_desc, kk * 32), desc_advance(v_desc, kk * 2048), 1u);
      wgmma_commit();
      wgmma_wait<0>();
      pin_regs(o);
      prof.mark(5);
      prof.tile_done();
    }

    named_sync(kBarItemEnd, kConsumerThreads);
    const float* inv_buf = inv_sum_smem + 64 * (items_done & 1);
    const float inv_sum[2] = {inv_buf[rp.r0], inv_buf[rp.r0 + 8]};
    store_output_half(p, v, rp, 256, o, inv_sum);
    ++items_done;
  }
  prof.report();
}

}  // namespace mla::cuda_impl::sm90
