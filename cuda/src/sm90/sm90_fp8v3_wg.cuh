// sm90_fp8v3_wg.cuh - the consumer warpgroups of the three-consumer
// register-V fp8-KV kernel (sm90_fp8v3_config.cuh): WG 1 (S, softmax, P')
// and WG 2 / 3 (O^T, 4 m-tiles each). The pieces are the two-consumer
// kernel's (fp8v_s, fp8v_softmax_tile, fp8v_pv, fp8v_rescale,
// fp8v_store_output); only the hand-offs differ: P' buffer b = tile % 2,
// PReady[b] / PFree[b] mbarriers, use u = tile / 2 of buffer b completing
// phase u of each.
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_epilogue.cuh"
#include "sm90_fp8_softmax_wg.cuh"
#include "sm90_fp8v3_config.cuh"
#include "sm90_fp8v_pv.cuh"
#include "sm90_fp8v_softmax_wg.cuh"
#include "sm90_items.cuh"
#include "sm90_softmax_wg.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"

namespace mla::cuda_impl::sm90 {

// P' of buffer b for the P.V warpgroups: P' itself, O's rescale factors,
// at an item's last tile (`last`) R / sum of every row and the LSE; then the
// proxy fence (P' is read by wgmma). The caller has waited for PFree[b] and
// arrives on PReady[b].
template <class Sm>
__device__ __forceinline__ void fp8v3_publish_p(const DecodeParams& p, const ItemView& v, RowPair rp, uint32_t base,
                                                uint32_t b, const uint32_t (&pa)[4][4], const float (&alpha)[2],
                                                bool last, const SoftmaxRows& st, const float (&r_scale)[2]) {
  store_p(base + Sm::kP + b * 8192, pa, rp);
  const uint32_t scale = base + Sm::kScale + 256 * b;
  if (rp.quad == 0) {
    asm volatile("st.shared.f32 [%0], %1;" ::"r"(scale + 4u * rp.r0), "f"(alpha[0]) : "memory");
    asm volatile("st.shared.f32 [%0], %1;" ::"r"(scale + 4u * (rp.r0 + 8)), "f"(alpha[1]) : "memory");
  }
  if (last) {
    // The item's rows are complete: R / sum for the P.V warpgroups'
    // output (O^T * R / sum), the LSE here.
    const uint32_t inv_buf = base + Sm::kInvSum + 256 * b;
    float lse[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = st.sum[h];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const float inv_sum = l == 0.f ? 0.f : r_scale[h] / l;  // NaN l: NaN row
      lse[h] = l == 0.f ? -INFINITY : (st.m[h] + log2f(l)) * 0.69314718055994531f;
      if (rp.quad == 0)
        asm volatile("st.shared.f32 [%0], %1;" ::"r"(inv_buf + 4u * (rp.r0 + 8 * h)), "f"(inv_sum) : "memory");
    }
    store_lse(p, v, rp, lse);
  }
  fence_proxy_async();  // P' is read by wgmma (async proxy)
}

// WG 1's loop over the layout Sm (Fp8v3Smem, or a layout with the same
// members) with kNStages FP8 stages.
template <class Sm, uint32_t kNStages>
__device__ __forceinline__ void fp8v3_softmax_wg_loop_in(const DecodeParams& p, uint32_t base, int32_t m_tile) {
  const uint32_t tid = threadIdx.x - kWarpgroupThreads;
  const RowPair rp = thread_rows(tid);
  const uint64_t q_desc = make_sw128_desc(base + Sm::kQ, 16, 1024);

  float s[32];
  uint32_t tile_count = 0, q_loads = 0;
  int32_t loaded_request = -1;
  Fp8Prof prof(base + Sm::kProf, 0, tid);  // MLA_SM90_FP8_PROFILE only

  const int32_t end = p.part_begin[blockIdx.x + 1];
  for (int32_t index = p.part_begin[blockIdx.x]; index < end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0) continue;
    SoftmaxRows st = softmax_rows_init(p, v, rp);
    float r_scale[2] = {0.f, 0.f};  // R of the two rows
    if (v.n_tiles > 0 && v.request != loaded_request) {
      mbar_wait(base + Sm::kBarQFull, q_loads & 1);
      fence_proxy_async();  // cp.async wrote the Q, wgmma reads it
      ++q_loads;
      loaded_request = v.request;
    }
    fp8v_row_factors(p, v, rp, base + Sm::kRowF);

    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kNStages;
      const uint32_t tile = base + Sm::kKV + stage * kFp8TileBytes;
      prof.mark(6);
      mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kNStages) & 1);
      fence_proxy_async();  // rows that cp.async wrote are read by wgmma
      prof.mark(0);
      if constexpr (kV3Dev == kV3DevNoS || kV3Dev == kV3DevPvOnly) {
#pragma unroll
        for (int x = 0; x < 32; ++x) s[x] = float(x & 7);  // timing only: no S
      } else {
        fp8v_s(s, q_desc, tile);
      }
      pin_regs(s);
      prof.mark(1);
      // Every thread of this warpgroup (kV3QEmptyArrivals): S was the item's last read of Q.
      if (t == v.n_tiles - 1 && next_item_reloads_q(p, index, end, m_tile, loaded_request))
        mbar_arrive(base + Sm::kBarQEmpty);

      // The two-consumer kernel's softmax (rcp.approx for 1 / R), but with
      // sigma_k read from shared memory where it is used (col_pair) rather
      // than held in 16 registers: this warpgroup's budget is ~140.
      float alpha[2] = {1.f, 1.f};  // O's rescale factor of the two rows
      const uint32_t col = base + Sm::kSigmaK + stage * 256;
      if constexpr (kV3Dev == kV3DevNoSoftmax || kV3Dev == kV3DevPvOnly) {
        // timing only: P' = S as it is
      } else {
        softmax_tile_scaled_by<true, kFp8vLazyLog2>(
            s, st, v.tile_base + t * kKeys, base + Sm::kRowF, [&](int j) { return col_pair(col, j, rp); }, rp,
            r_scale, alpha);
      }
      // S and sigma_k were this warpgroup's reads of the stage.
      mbar_arrive(base + Sm::kBarEmpty + 8 * stage);
      uint32_t pa[4][4];
      pack_p_f16(s, pa);
      prof.mark(2);

      const uint32_t b = tile_count & 1, use = tile_count >> 1;
      if (use > 0) mbar_wait(base + Sm::kBarPFree + 8 * b, (use - 1) & 1);  // its previous P.V read it
      prof.mark(3);
      fp8v3_publish_p<Sm>(p, v, rp, base, b, pa, alpha, t == v.n_tiles - 1, st, r_scale);
      mbar_arrive(base + Sm::kBarPReady + 8 * b);
      prof.mark(4);
      prof.tile_done();
    }
    if (v.n_tiles == 0) {  // the rows see no key: LSE -inf (the P.V warpgroups write zeros)
      const float lse[2] = {-INFINITY, -INFINITY};
      store_lse(p, v, rp, lse);
    }
  }
  prof.report();
}

__device__ __forceinline__ void fp8v3_softmax_wg_loop(const DecodeParams& p, uint32_t base, int32_t m_tile) {
  fp8v3_softmax_wg_loop_in<Fp8v3Smem, kV3Stages>(p, base, m_tile);
}

// w = 0 (WG 2) or 1 (WG 3): O^T m-tiles kV3PvMTiles w .. + kV3PvMTiles - 1.
__device__ __forceinline__ void fp8v3_pv_wg_loop(const DecodeParams& p, uint32_t base, int32_t m_tile, uint32_t w) {
  using Sm = Fp8v3Smem;
  const uint32_t tid = threadIdx.x - kWarpgroupThreads * (2 + w);
  const uint32_t warp = tid >> 5, lane = tid & 31;
  const uint32_t i0 = kV3PvMTiles * w;

  float o[kV3PvMTiles][32];
  uint32_t tile_count = 0;
  Fp8Prof prof(base + Sm::kProf, 1 + w, tid);  // MLA_SM90_FP8_PROFILE only
  // The part's end is read again per item (an L1 hit) rather than held in a
  // register across the tile loop.
  const volatile int32_t* part_end = p.part_begin + blockIdx.x + 1;
  for (int32_t index = p.part_begin[blockIdx.x]; index < *part_end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0) continue;
#pragma unroll
    for (uint32_t i = 0; i < kV3PvMTiles; ++i)
#pragma unroll
      for (int x = 0; x < 32; ++x) o[i][x] = 0.f;

    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kV3Stages;
      const uint32_t tile = base + Sm::kKV + stage * kFp8TileBytes;
      const uint32_t b = tile_count & 1, use = tile_count >> 1;
      prof.mark(5);
      mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kV3Stages) & 1);
      prof.mark(0);
      mbar_wait(base + Sm::kBarPReady + 8 * b, use & 1);
      prof.mark(1);
      if constexpr (kV3Dev == kV3DevNoPv) {
        mbar_arrive(base + Sm::kBarEmpty + 8 * stage);  // timing only: no rescale, no P.V
      } else {
        fp8v_rescale(o, base + Sm::kScale + 256 * b, lane);
        prof.mark(2);
        fp8v_pv<kV3PvMTiles, MLA_SM90_FP8V3_PV_BUFS>(o, tile, warp, lane, i0,
                                                     make_sw128_desc(base + Sm::kP + b * 8192, 16, 1024),
                                                     base + Sm::kBarEmpty + 8 * stage);
      }
      prof.mark(3);
      if (t == v.n_tiles - 1) fp8v_store_output(p, v, warp, lane, i0, o, base + Sm::kInvSum + 256 * b);
      mbar_arrive(base + Sm::kBarPFree + 8 * b);  // P', the factors and R / sum of buffer b read
      prof.mark(4);
      prof.tile_done();
    }
    if (v.n_tiles == 0) fp8v_store_output(p, v, warp, lane, i0, o, base + Sm::kZero);  // O^T = 0: zeros
  }
  prof.report();
}

}  // namespace mla::cuda_impl::sm90
