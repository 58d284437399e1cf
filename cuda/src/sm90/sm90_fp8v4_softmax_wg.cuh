// sm90_fp8v4_softmax_wg.cuh - warpgroup 1 of the FP16-copy P.V kernel
// (sm90_fp8v4_config.cuh) with S of tile t + 1 computed under the softmax of
// tile t (MLA_SM90_FP8V4_OVERLAP=1; off: the three-consumer kernel's loop,
// fp8v3_softmax_wg_loop_in). NOT yet run on a GPU.
//
// Why: WG 1's chain S -> softmax is serial in the other M = 64 fp8 kernels
// (H200 profile, H128 q2: S 1250-1660 + softmax 1330-1950 cycles a tile of
// ~4,300), while S's own tensor work is ~640 cycles. Here S(t + 1) runs one
// promotion group at a time (2 k-steps, the same groups and the same fp32
// order of additions as fp8v_s, so S is bitwise the same) between the 8
// steps of the softmax of tile t (Fp8vSoftmaxSteps: the same arithmetic in
// the same order as softmax_tile_scaled_by<true, kFp8vLazyLog2>), so each
// group's latency hides under a softmax step.
//
// Stages: S(t + 1) needs tile t + 1 one tile earlier than before, and this
// kernel has 2 stages. So WG 1 releases a stage right after its S, having
// copied the tile's 64 sigma_k into its own double buffer (kSkCopy, a
// 128-thread named barrier before the release); the P.V warpgroups release
// it after their conversion.
//
// Per item: (new request) wait for Q; S(0) whole (fp8v_s); then per tile t:
//   logits and row max of t; wait for tile t + 1 (if any), issue its rope +
//   group 0; then exp steps, finish and pack of t, each followed by an S
//   round (wait, add, issue group k, k = 1..6); P'(t) to buffer t % 2
//   (PFree, publish, PReady); round 7; the last add; sigma_k(t + 1)
//   copied, barrier, stage t + 1 released. The item's last tile runs the
//   softmax alone (its own instantiation: no wgmma under a run-time test).
#pragma once

#include <cstdint>
#include <type_traits>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_epilogue.cuh"
#include "sm90_fp8_softmax_wg.cuh"
#include "sm90_fp8v3_wg.cuh"
#include "sm90_fp8v4_config.cuh"
#include "sm90_fp8v_softmax_wg.cuh"
#include "sm90_items.cuh"
#include "sm90_softmax_wg.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"
#include "sm90_wgmma_ops.cuh"

namespace mla::cuda_impl::sm90 {

// softmax_tile_scaled_by<true, kFp8vLazyLog2> (sm90_fp8_softmax_wg.cuh) cut
// into steps that can run between the MMA rounds of the next S: the same
// operations in the same order, so the same bits. col_of(j): sigma_k of the
// thread's pair in 8-key block j. (A copy, not a refactor of that function,
// so that the GPU-tested kernels' code stays as it ran; once this kernel has
// run, softmax_tile_scaled_by can become these steps in a row.)
template <class ColOf>
struct Fp8vSoftmaxSteps {
  float (&s)[32];
  SoftmaxRows& st;
  float (&r_scale)[2];
  ColOf col_of;
  float row_f[2];
  int32_t lo[2], hi[2];
  bool all_visible;
  float mx[2], shift[2], alpha[2], part[2], wmax[2];

  __device__ __forceinline__ Fp8vSoftmaxSteps(float (&s_)[32], SoftmaxRows& st_, int32_t k0, uint32_t row, ColOf col,
                                              RowPair rp, float (&r_scale_)[2])
      : s(s_), st(st_), r_scale(r_scale_), col_of(col) {
    asm volatile("ld.shared.f32 %0, [%1];" : "=f"(row_f[0]) : "r"(row + 4u * rp.r0));
    asm volatile("ld.shared.f32 %0, [%1];" : "=f"(row_f[1]) : "r"(row + 4u * (rp.r0 + 8)));
    all_visible = true;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      lo[h] = st.lo[h] - k0 - int32_t(2 * rp.quad);
      hi[h] = st.hi[h] - k0 - int32_t(2 * rp.quad);
      all_visible = all_visible && st.lo[h] <= k0 && st.hi[h] >= k0 + kKeys;
      mx[h] = -INFINITY;
    }
  }

  // Logits and the running max of 8-key blocks J0 .. J1 - 1.
  template <int J0, int J1>
  __device__ __forceinline__ void scale_max() {
    const auto body = [&](auto mask) {
#pragma unroll
      for (int j = J0; j < J1; ++j) {
        const float2 f = col_of(j);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int i = 4 * j + e, h = e >> 1;
          const float x = s[i] * (row_f[h] * ((e & 1) ? f.y : f.x));
          if constexpr (decltype(mask)::value) {
            const int32_t c = 8 * j + (e & 1);
            s[i] = (c >= lo[h] && c < hi[h]) ? x : -INFINITY;
          } else {
            s[i] = x;
          }
          mx[h] = fmaxf(mx[h], s[i]);
        }
      }
    };
    if (all_visible)
      body(std::false_type{});
    else
      body(std::true_type{});
  }

  // The rows' new max, the shift and O's factor 2^(m_old - m).
  __device__ __forceinline__ void reduce_max() {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
      const float m_new = fmaxf(st.m[h], mx[h]);
      shift[h] = m_new == -INFINITY ? 0.f : m_new;
      alpha[h] = fast_exp2(st.m[h] - shift[h]);
      st.m[h] = m_new;
      part[h] = 0.f;
      wmax[h] = 0.f;
    }
  }

  // Probabilities, their sums and the largest folded weight of blocks J0 .. J1 - 1.
  template <int J0, int J1>
  __device__ __forceinline__ void exp_fold() {
#pragma unroll
    for (int j = J0; j < J1; ++j) {
      const float2 f = col_of(j);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int i = 4 * j + e, h = e >> 1;
        const float p = fast_exp2(s[i] - shift[h]);
        part[h] += p;
        s[i] = p != 0.f ? p * ((e & 1) ? f.y : f.x) : 0.f;
        wmax[h] = fmaxf(wmax[h], fabsf(s[i]));
      }
    }
  }

  // Row sums, lazy R, O's rescale factors, P' = weights / R.
  __device__ __forceinline__ void finish(float (&rescale)[2]) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      st.sum[h] = st.sum[h] * alpha[h] + part[h];
      wmax[h] = fmaxf(wmax[h], __shfl_xor_sync(0xffffffffu, wmax[h], 1));
      wmax[h] = fmaxf(wmax[h], __shfl_xor_sync(0xffffffffu, wmax[h], 2));
      const float kept = r_scale[h] * alpha[h];
      const float r_new = kFp8vLazyLog2 == 0
                              ? fmaxf(fmaxf(kept, wmax[h]), 0x1p-100f)
                              : fmaxf(wmax[h] > kept * float(1 << kFp8vLazyLog2) ? wmax[h] : kept, 0x1p-100f);
      float inv;
      asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(inv) : "f"(r_new));
      rescale[h] = r_new == kept ? 1.f : kept * inv;
      r_scale[h] = r_new;
      wmax[h] = inv;
    }
#pragma unroll
    for (int i = 0; i < 32; ++i) s[i] *= wmax[(i >> 1) & 1];
  }
};

// S of the FP8 tile at `tile` one promotion group at a time into sn with
// one accumulator: begin() issues the rope (into sn) and group 0, round(g)
// adds group g - 1 and issues group g (g = 1 .. 7), end() adds group 7.
// Groups of MLA_SM90_FP8V_PROMOTE = 2 k-steps, added to sn in order: fp8v_s's
// sums, bit for bit.
struct Fp8vSRounds {
  float (&sn)[32];
  float (&acc)[32];
  uint64_t q_desc, k_desc;
  static_assert(!kV4Overlap || MLA_SM90_FP8V_PROMOTE == 2, "the rounds are written for groups of 2 k-steps (8 groups)");

  __device__ __forceinline__ void issue_group(uint32_t g) {
#pragma unroll
    for (uint32_t j = 0; j < 2; ++j) {
      const uint32_t kk = 2 * g + j;
      const uint32_t off = (kk >> 2) * kColBlockBytes + (kk & 3) * 32;
      wgmma_m64n64k32_e4m3_ss(acc, desc_advance(q_desc, off), desc_advance(k_desc, off), j > 0 ? 1u : 0u);
    }
  }
  __device__ __forceinline__ void begin() {
    wgmma_fence();
#pragma unroll
    for (uint32_t kk = 0; kk < 4; ++kk) {
      const uint32_t off = kFp8RopeBlock * kColBlockBytes + kk * 32;
      wgmma_m64n64k16_ss(sn, desc_advance(q_desc, off), desc_advance(k_desc, off), kk > 0 ? 1u : 0u);
    }
    issue_group(0);
    wgmma_commit();
  }
  __device__ __forceinline__ void add() {
    wgmma_wait<0>();
    pin_regs(acc);
    pin_regs(sn);
#pragma unroll
    for (int x = 0; x < 32; ++x) sn[x] += acc[x];
  }
  __device__ __forceinline__ void round(uint32_t g) {
    add();
    wgmma_fence();  // acc was read: group g overwrites it
    issue_group(g);
    wgmma_commit();
  }
  __device__ __forceinline__ void end() { add(); }
};

template <class Sm, uint32_t kNStages>
__device__ __forceinline__ void fp8v4_softmax_overlap_loop(const DecodeParams& p, uint32_t base, int32_t m_tile) {
  const uint32_t tid = threadIdx.x - kWarpgroupThreads;
  const RowPair rp = thread_rows(tid);
  const uint64_t q_desc = make_sw128_desc(base + Sm::kQ, 16, 1024);

  float s[32], sn[32], acc[32];
  uint32_t tile_count = 0, q_loads = 0;
  int32_t loaded_request = -1;
  Fp8Prof prof(base + Sm::kProf, 0, tid);  // MLA_SM90_FP8_PROFILE only

  // Tile number c's stage landed: its S may start.
  const auto wait_tile = [&](uint32_t c) {
    mbar_wait(base + Sm::kBarFull + 8 * (c % kNStages), (c / kNStages) & 1);
    fence_proxy_async();  // rows that cp.async wrote are read by wgmma
  };
  // Tile number c's S finished: copy its sigma_k out of the stage, and give
  // the stage back (sigma_k and S were this warpgroup's reads of it).
  const auto release_tile = [&](uint32_t c) {
    if (tid < 64) {
      float sk;
      asm volatile("ld.shared.f32 %0, [%1];" : "=f"(sk) : "r"(base + Sm::kSigmaK + (c % kNStages) * 256 + 4u * tid));
      asm volatile("st.shared.f32 [%0], %1;" ::"r"(base + Sm::kSkCopy + (c & 1) * 256 + 4u * tid), "f"(sk) : "memory");
    }
    named_sync(kBarV4SoftmaxWg, kWarpgroupThreads);  // the copy is whole before any thread reads it
    mbar_arrive(base + Sm::kBarEmpty + 8 * (c % kNStages));
  };

  const int32_t end = p.part_begin[blockIdx.x + 1];
  for (int32_t index = p.part_begin[blockIdx.x]; index < end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0) continue;
    SoftmaxRows st = softmax_rows_init(p, v, rp);
    float r_scale[2] = {0.f, 0.f};  // R of the two rows
    if (v.n_tiles == 0) {  // the rows see no key: LSE -inf (the P.V warpgroups write zeros)
      const float lse[2] = {-INFINITY, -INFINITY};
      store_lse(p, v, rp, lse);
      continue;
    }
    if (v.request != loaded_request) {
      mbar_wait(base + Sm::kBarQFull, q_loads & 1);
      fence_proxy_async();  // cp.async wrote the Q, wgmma reads it
      ++q_loads;
      loaded_request = v.request;
    }
    fp8v_row_factors(p, v, rp, base + Sm::kRowF);
    const bool reload_q = next_item_reloads_q(p, index, end, m_tile, loaded_request);

    // S of the item's first tile, whole.
    wait_tile(tile_count);
    fp8v_s(s, q_desc, base + Sm::kKV + (tile_count % kNStages) * kFp8TileBytes);
    pin_regs(s);
    if (v.n_tiles == 1 && reload_q) mbar_arrive(base + Sm::kBarQEmpty);  // S was the item's last read of Q
    release_tile(tile_count);

    // One tile: kNext (every tile but the item's last) also computes S of
    // the next tile between the softmax steps. Two instantiations rather
    // than a run-time test around the wgmma (ptxas serialises wgmma it sees
    // in a divergent path: C7518).
    const auto run_tile = [&](int32_t t, auto next_tag) {
      constexpr bool kNext = decltype(next_tag)::value;
      prof.mark(6);
      Fp8vSRounds next{sn, acc, q_desc,
                       make_sw128_desc(base + Sm::kKV + ((tile_count + 1) % kNStages) * kFp8TileBytes, 16, 1024)};
      const uint32_t col = base + Sm::kSkCopy + (tile_count & 1) * 256;
      const auto col_of = [&](int j) { return col_pair(col, j, rp); };
      Fp8vSoftmaxSteps<decltype(col_of)> sm(s, st, v.tile_base + t * kKeys, base + Sm::kRowF, col_of, rp, r_scale);
      float alpha[2];
      // The logits and the max first: the wait for tile t + 1 comes a third
      // of the softmax later (with 2 stages its load starts only once the
      // P.V warpgroups have converted tile t - 1).
      sm.template scale_max<0, 8>();
      sm.reduce_max();
      if constexpr (kNext) {
        wait_tile(tile_count + 1);
        next.begin();
      }
      prof.mark(0);
      sm.template exp_fold<0, 2>();
      if constexpr (kNext) next.round(1);
      sm.template exp_fold<2, 4>();
      if constexpr (kNext) next.round(2);
      sm.template exp_fold<4, 6>();
      if constexpr (kNext) next.round(3);
      sm.template exp_fold<6, 8>();
      if constexpr (kNext) next.round(4);
      sm.finish(alpha);
      if constexpr (kNext) next.round(5);
      uint32_t pa[4][4];
      pack_p_f16(s, pa);
      if constexpr (kNext) next.round(6);
      prof.mark(1);

      // P'(t) to the P.V warpgroups while S(t + 1)'s group 6 runs.
      const uint32_t b = tile_count & 1, use = tile_count >> 1;
      if (use > 0) mbar_wait(base + Sm::kBarPFree + 8 * b, (use - 1) & 1);  // its previous P.V read it
      prof.mark(3);
      fp8v3_publish_p<Sm>(p, v, rp, base, b, pa, alpha, !kNext, st, r_scale);
      mbar_arrive(base + Sm::kBarPReady + 8 * b);
      prof.mark(4);
      if constexpr (kNext) next.round(7);

      if constexpr (kNext) {
        next.end();
#pragma unroll
        for (int x = 0; x < 32; ++x) s[x] = sn[x];
        pin_regs(s);
        if (t + 2 == v.n_tiles && reload_q) mbar_arrive(base + Sm::kBarQEmpty);  // the item's last S
        release_tile(tile_count + 1);
      }
      prof.mark(2);
      prof.tile_done();
      ++tile_count;
    };
    for (int32_t t = 0; t + 1 < v.n_tiles; ++t) run_tile(t, std::true_type{});
    run_tile(v.n_tiles - 1, std::false_type{});
  }
  prof.report();
}

}  // namespace mla::cuda_impl::sm90
