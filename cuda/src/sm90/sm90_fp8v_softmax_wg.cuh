// sm90_fp8v_softmax_wg.cuh - warpgroup 1 of the register-V fp8-KV kernel
// (sm90_fp8v_config.cuh): S = Q.K^T from the FP8 tile as loaded, scales,
// masks, online softmax, P' for both warpgroups, then its share of O^T.
//
// Per request: wait for the FP8 Q tile (no conversion).
// Per KV tile:
//   wait for the tile -> S: 4 BF16 wgmma over the rope into S, 16 QGMMA over
//      the content in 8 groups of 2 k-steps, each group in one of two
//      accumulators, added to S in fp32 after it finishes (two groups in
//      flight)
//   -> logit = S * (sigma_q * scale * log2 e) per row * sigma_k per key, mask,
//      online softmax (softmax_tile_scaled; sigma_k from the stage)
//   -> (t > 0) TileFree: both warpgroups' O^T of the previous tile finished
//   -> P' = P * sigma_k / R as FP16 and the rescale factors to shared memory
//      -> PReady -> rescale O^T -> O^T share from the same stage, which every
//      thread releases after its last fragment load.
// Per item: 1 / sum and the LSE of its rows, ItemEnd, then its share of
// the output. The output is O^T * R / sum (V taken exactly, no 2^-8).
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_epilogue.cuh"
#include "sm90_fp8_softmax_wg.cuh"
#include "sm90_fp8v_config.cuh"
#include "sm90_fp8v_pv.cuh"
#include "sm90_items.cuh"
#include "sm90_softmax_wg.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"
#include "sm90_wgmma_ops.cuh"

namespace mla::cuda_impl::sm90 {

// S = Q.K^T over the FP8 Q tile (q_desc) and the FP8 KV tile at `tile`:
// rope in BF16 (block 4 of both), content in E4M3 k32 steps (block kk / 4,
// 32 bytes a step), promoted to fp32 every MLA_SM90_FP8V_PROMOTE k-steps,
// two groups in flight. Returns with every
// wgmma finished.
__device__ __forceinline__ void fp8v_s(float (&s)[32], uint64_t q_desc, uint32_t tile) {
  // Q in column blocks, the tile in its KV layout (fp8_kv_step_offset).
  const uint64_t k_desc = make_sw128_desc(tile, 16, kFp8KvGroupStride);
  const auto q_step = [](uint32_t kk) { return (kk >> 2) * kColBlockBytes + (kk & 3) * 32; };
  constexpr uint32_t kPer = MLA_SM90_FP8V_PROMOTE, kGroups = 16 / kPer;  // groups of kPer k-steps
  float acc[2][32];
  wgmma_fence();
#pragma unroll
  for (uint32_t kk = 0; kk < 4; ++kk) {
    const uint32_t step = 4 * kFp8RopeBlock + kk;
    wgmma_m64n64k16_ss(s, desc_advance(q_desc, q_step(step)), desc_advance(k_desc, fp8_kv_step_offset(step)),
                       kk > 0 ? 1u : 0u);
  }
#pragma unroll
  for (uint32_t grp = 0; grp < kGroups; ++grp) {
    const uint32_t b = grp & 1;
    if (grp >= 2) {
      wgmma_wait<1>();  // group grp - 2 (and the rope) finished
      pin_regs(acc[b]);
      pin_regs(s);
#pragma unroll
      for (int x = 0; x < 32; ++x) s[x] += acc[b][x];
      wgmma_fence();  // acc[b] was read: the next group overwrites it
    }
#pragma unroll
    for (uint32_t j = 0; j < kPer; ++j) {
      const uint32_t kk = kPer * grp + j;
      wgmma_m64n64k32_e4m3_ss(acc[b], desc_advance(q_desc, q_step(kk)), desc_advance(k_desc, fp8_kv_step_offset(kk)),
                              j > 0 ? 1u : 0u);
    }
    wgmma_commit();
  }
  if constexpr (kGroups >= 2) {  // the last two groups, in order
    constexpr uint32_t b = (kGroups - 2) & 1;
    wgmma_wait<1>();
    pin_regs(acc[b]);
    pin_regs(s);
#pragma unroll
    for (int x = 0; x < 32; ++x) s[x] += acc[b][x];
  }
  constexpr uint32_t b = (kGroups - 1) & 1;
  wgmma_wait<0>();
  pin_regs(acc[b]);
  pin_regs(s);
#pragma unroll
  for (int x = 0; x < 32; ++x) s[x] += acc[b][x];
}

// softmax_tile_scaled_by (sm90_fp8_softmax_wg.cuh) with the thread's 16
// per-key factors loaded once into registers (the FP16-copy kernel loads
// them twice, volatile, to save registers it did not have) and 1 / R by
// rcp.approx: H128 q2 836 -> 783 us against softmax_tile_scaled (H200,
// the first A/B of this kernel).
__device__ __forceinline__ void fp8v_softmax_tile(float (&s)[32], SoftmaxRows& st, int32_t k0, uint32_t row,
                                                  uint32_t col, RowPair rp, float (&r_scale)[2], float (&rescale)[2]) {
  float2 sk[8];
#pragma unroll
  for (int j = 0; j < 8; ++j)
    asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];"
                 : "=f"(sk[j].x), "=f"(sk[j].y)
                 : "r"(col + 4u * (8u * uint32_t(j) + 2u * rp.quad)));
  softmax_tile_scaled_by<true, kFp8vLazyLog2>(s, st, k0, row, [&](int j) { return sk[j]; }, rp, r_scale, rescale);
}

// sigma_q * scale * log2(e) of the thread's two rows into the 64 row
// factors at `row` (0 for padding rows, which see no key). The lanes of a
// quad share their rows: lane quad 0 writes, the warp syncs.
__device__ __forceinline__ void fp8v_row_factors(const DecodeParams& p, const ItemView& v, RowPair rp, uint32_t row) {
  if (rp.quad == 0) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int32_t r = int32_t(rp.r0) + 8 * h;
      const float f = r < v.rows ? __ldg(p.q_scales + (v.q_row0 + r) / p.num_heads) * p.scale_log2 : 0.f;
      asm volatile("st.shared.f32 [%0], %1;" ::"r"(row + 4u * uint32_t(r)), "f"(f) : "memory");
    }
  }
  __syncwarp();
}

__device__ __forceinline__ void fp8v_softmax_wg_loop(const DecodeParams& p, uint32_t base, int32_t m_tile) {
  using Sm = Fp8vSmem;
  const uint32_t tid = threadIdx.x - kWarpgroupThreads;
  const uint32_t warp = tid >> 5, lane = tid & 31;
  const RowPair rp = thread_rows(tid);
  const uint64_t q_desc = make_sw128_desc(base + Sm::kQ, 16, 1024);
  const uint64_t p_desc = make_sw128_desc(base + Sm::kP, 16, 1024);  // P' row-major = P'^T K-major

  float o[kFp8vWg1MTiles][32];
  float s[32];
  uint32_t tile_count = 0, q_loads = 0, items_done = 0;
  int32_t loaded_request = -1;
  Fp8Prof prof(base + Sm::kProf, 0, tid);  // MLA_SM90_FP8_PROFILE only

  const int32_t end = p.part_begin[blockIdx.x + 1];
  for (int32_t index = p.part_begin[blockIdx.x]; index < end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0) continue;
    SoftmaxRows st = softmax_rows_init(p, v, rp);
    float r_scale[2] = {0.f, 0.f};  // R of the two rows (softmax_tile_scaled)
    if (v.n_tiles > 0 && v.request != loaded_request) {
      mbar_wait(base + Sm::kBarQFull, q_loads & 1);
      fence_proxy_async();  // cp.async wrote the Q, wgmma reads it
      ++q_loads;
      loaded_request = v.request;
    }
    fp8v_row_factors(p, v, rp, base + Sm::kRowF);
#pragma unroll
    for (uint32_t i = 0; i < kFp8vWg1MTiles; ++i)
#pragma unroll
      for (int x = 0; x < 32; ++x) o[i][x] = 0.f;

    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kVStages;
      const uint32_t tile = base + Sm::kKV + stage * kFp8TileBytes;
      prof.mark(6);
      mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kVStages) & 1);
      fence_proxy_async();  // rows that cp.async wrote are read by wgmma
      prof.mark(0);
      fp8v_s(s, q_desc, tile);
      pin_regs(s);
      prof.mark(1);
      // Every thread (kFp8vQEmptyArrivals): S was the item's last read of Q.
      if (t == v.n_tiles - 1 && next_item_reloads_q(p, index, end, m_tile, loaded_request))
        mbar_arrive(base + Sm::kBarQEmpty);

      float alpha[2];  // O's rescale factor (R_old * 2^(m_old - m) / R)
      fp8v_softmax_tile(s, st, v.tile_base + t * kKeys, base + Sm::kRowF, base + Sm::kSigmaK + stage * 256, rp,
                        r_scale, alpha);
      uint32_t pa[4][4];
      pack_p_f16(s, pa);
      prof.mark(2);
      // WG 2's O^T of the previous tile has read P' (this WG's finished in
      // fp8v_pv); at an item's first tile ItemEnd did this.
      if (t > 0) named_sync(kBarTileFree, kConsumerThreads);
      prof.mark(3);
      store_p(base + Sm::kP, pa, rp);
      if (rp.quad == 0) {
        asm volatile("st.shared.f32 [%0], %1;" ::"r"(base + Sm::kScale + 4u * rp.r0), "f"(alpha[0]) : "memory");
        asm volatile("st.shared.f32 [%0], %1;" ::"r"(base + Sm::kScale + 4u * (rp.r0 + 8)), "f"(alpha[1])
                     : "memory");
      }
      fence_proxy_async();  // P' is read by wgmma (async proxy)
      named_sync(kBarPReady, kConsumerThreads);
      prof.mark(4);

      fp8v_rescale(o, base + Sm::kScale, lane);
      fp8v_pv<kFp8vWg1MTiles, 2>(o, tile, warp, lane, 0, p_desc, base + Sm::kBarEmpty + 8 * stage);
      prof.mark(5);
      prof.tile_done();
    }

    // The quad holds the 64 columns of a row between them.
    float lse[2];
    const uint32_t inv_buf = base + Sm::kInvSum + 256u * (items_done & 1);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = st.sum[h];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      // O^T * R / l; NaN l: NaN row (see sm90_softmax_wg.cuh)
      const float inv_sum = l == 0.f ? 0.f : r_scale[h] / l;
      lse[h] = l == 0.f ? -INFINITY : (st.m[h] + log2f(l)) * 0.69314718055994531f;
      if (rp.quad == 0)
        asm volatile("st.shared.f32 [%0], %1;" ::"r"(inv_buf + 4u * (rp.r0 + 8 * h)), "f"(inv_sum) : "memory");
    }
    named_sync(kBarItemEnd, kConsumerThreads);
    fp8v_store_output(p, v, warp, lane, 0, o, inv_buf);
    store_lse(p, v, rp, lse);
    ++items_done;
  }
  prof.report();
}

}  // namespace mla::cuda_impl::sm90
