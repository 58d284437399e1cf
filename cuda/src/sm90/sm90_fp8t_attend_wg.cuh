// sm90_fp8t_attend_wg.cuh - an attend warpgroup of the rows-split fp8-KV
// kernel (sm90_fp8t_config.cuh): query rows 32 a .. 32 a + 31 of the M tile,
// the whole chain on every tile.
//
// Thread layout (warp w, lane l, g = l / 4, t = l % 4):
//  - S^T (m64n32): element i = 4j + 2h + e is key 16w + g + 8h, row
//    n = 8j + 2t + e of the warpgroup's 32 (ri = 2j + e: the thread's 8 rows);
//  - O^T (8 m-tiles of m64n32): element 4j + 2h + e of m-tile i is value dim
//    64i + 16w + 2g + h, row 8j + 2t + e (sm90_fp8v_pv.cuh).
// Per item: warp 0 (lane = row) writes the row table (sigma_q * scale *
// log2 e, visible keys) and keeps the row's running max m and R; Red.
// Per tile: wait for the stage -> S^T -> logits, mask, per-warp row maxima to
// shared memory -> Red -> warp 0: m, R, the factors of each row -> RowOut
// -> P'^T (FP16) into this warpgroup's buffer, O^T rescaled -> PReady ->
// O^T += V^T.P'^T, the stage released after the last fragment load.
// Per item end: row sums -> Red -> warp 0: R / sum and the LSE -> RowOut ->
// the output.
// The softmax is the register-V kernel's (softmax_tile_scaled_by) in the
// transposed layout, with R as the small-H kernel computes it in one
// reduction: R = max(R_old * alpha, 2^(max(x + lg2|sigma_k|) - m), 2^-100),
// so that |P'| <= 1 up to the rounding of the approximate exp2 / lg2
// (FP16's range is 65504). P' = P * sigma_k / R, rounded to FP16.
#pragma once

#include <climits>
#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8_qgmma.cuh"
#include "sm90_fp8s_q.cuh"
#include "sm90_fp8t_config.cuh"
#include "sm90_fp8v_pv.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"
#include "sm90_wgmma_ops.cuh"

namespace mla::cuda_impl::sm90 {

// The item's row table, by warp 0 (lane = row n of the warpgroup, tile row
// 32 a + n): sigma_q * scale * log2(e) (0 for padding), the visible keys
// within the item (empty for padding), and the largest lo / smallest hi
// over the valid rows (a tile inside [lo, hi) needs no per-key mask).
__device__ __forceinline__ void fp8t_row_table(const DecodeParams& p, const ItemView& v, uint32_t a, uint32_t lane,
                                               uint32_t wgs) {
  using Sm = Fp8tSmem;
  const int32_t r = int32_t(kTRows * a + lane);
  float f = 0.f;
  int32_t lo = 0, hi = 0, lo_all = INT_MIN, hi_all = INT_MAX;
  if (r < v.rows) {
    const KeyRange k = token_keys(p, v.kv_len, v.q_len, (v.row0 + r) / p.num_heads);
    lo = int32_t(k.begin > v.item_begin ? k.begin : v.item_begin);
    hi = int32_t(k.end < v.item_end ? k.end : v.item_end);
    lo_all = lo;
    hi_all = hi;
    f = __ldg(p.q_scales + (v.q_row0 + r) / p.num_heads) * p.scale_log2;
  }
  lo_all = __reduce_max_sync(0xffffffffu, lo_all);
  hi_all = __reduce_min_sync(0xffffffffu, hi_all);
  asm volatile("st.shared.f32 [%0], %1;" ::"r"(wgs + Sm::kRowF + 4u * lane), "f"(f) : "memory");
  asm volatile("st.shared.v2.s32 [%0], {%1, %2};" ::"r"(wgs + Sm::kRowKeys + 8u * lane), "r"(lo), "r"(hi) : "memory");
  if (lane == 0)
    asm volatile("st.shared.v2.s32 [%0], {%1, %2};" ::"r"(wgs + Sm::kAll), "r"(lo_all), "r"(hi_all) : "memory");
}

// The thread's P'^T elements in the warpgroup's [32 rows][64 keys] FP16
// buffer at `pt`, 128-byte swizzled (the B operand of O^T, K-major): row
// n = 8j + 2t + e, key k = 16w + g + 8h sits at n * 128 + ((k / 8) ^ (n % 8))
// * 16 + (k % 8) * 2. n % 8 = 2t + e does not depend on j, so the four
// (h, e) addresses of j = 0 cover all 16 with j * 1024 added (an
// immediate in the SASS; fewer live registers than 16 addresses, which ptxas hoisted
// out of the tile loop and spilled).
__device__ __forceinline__ uint32_t fp8t_p_addr(uint32_t pt, uint32_t warp, uint32_t g, uint32_t t4, uint32_t h,
                                                uint32_t e) {
  const uint32_t n = 2 * t4 + e;
  return pt + n * 128u + (((2 * warp + h) ^ n) << 4) + g * 2u;
}

// x, as a value ptxas cannot see through: a base address taken fresh inside
// the tile loop, so that ptxas folds the constant offsets added to it into
// the loads and stores instead of hoisting each sum out of the loop into its
// own register (it spilled those).
__device__ __forceinline__ uint32_t opaque_u32(uint32_t x) {
  uint32_t y;
  asm volatile("mov.b32 %0, %1;" : "=r"(y) : "r"(x));
  return y;
}

__device__ __forceinline__ void fp8t_attend_wg_loop(const DecodeParams& p, uint32_t base, int32_t m_tile, uint32_t a) {
  using Sm = Fp8tSmem;
  const uint32_t tid = threadIdx.x - kWarpgroupThreads * (1 + a);
  const uint32_t warp = tid >> 5, lane = tid & 31, t4 = lane & 3, g = lane >> 2;
  const uint32_t wgs = base + Sm::kWg + a * Sm::kWgBytes;  // this warpgroup's small buffers
  const uint32_t pt = base + Sm::kP + 4096u * a;
  const uint32_t bar_red = kBarTBase + 3 * a, bar_rowout = bar_red + 1, bar_p = bar_red + 2;
  const uint64_t q_desc = make_sw128_desc(base + Sm::kQ + kTRows * 128u * a, 16, 1024);
  const uint64_t p_desc = make_sw128_desc(pt, 16, 1024);
  uint32_t p_addr[2][2];  // [h][e]: fp8t_p_addr
#pragma unroll
  for (uint32_t h = 0; h < 2; ++h)
#pragma unroll
    for (uint32_t e = 0; e < 2; ++e) p_addr[h][e] = fp8t_p_addr(pt, warp, g, t4, h, e);
  // V^T fragments (fp8r_vt_load): m-tile i, k-steps 2kp, 2kp + 1 at tile +
  // (i / 2) 8192 + kp 4096 + vt_off[i % 2] (row 32kp + 8 (l / 8) + l % 8,
  // chunk 4i + w: chunk / 8 = i / 2, chunk % 8 = 4 (i % 2) + w).
  uint32_t vt_off[2];
#pragma unroll
  for (uint32_t x = 0; x < 2; ++x)
    vt_off[x] = (lane >> 3) * 1024u + (lane & 7u) * 128u + (((4u * x + warp) ^ (lane & 7u)) << 4);

  float o[8][16];
  float s[16];
  float sum[8];
  float m_row = -INFINITY, r_row = 0.f;  // warp 0: lane l's row
  uint32_t tile_count = 0, q_loads = 0;
  int32_t loaded_request = -1;

  const int32_t end = p.part_begin[blockIdx.x + 1];
  for (int32_t index = p.part_begin[blockIdx.x]; index < end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0) continue;
    if (v.n_tiles > 0 && v.request != loaded_request) {
      mbar_wait(base + Sm::kBarQFull, q_loads & 1);
      fence_proxy_async();  // cp.async wrote the Q, wgmma reads it
      ++q_loads;
      loaded_request = v.request;
    }
    if (v.rows <= int32_t(kTRows * a)) {
      // All 32 rows are padding: only turn the ring (wait each tile so that
      // an arrival never counts towards an earlier phase) and hand the Q back.
      for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
        const uint32_t stage = tile_count % kTStages;
        mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kTStages) & 1);
        if (t == v.n_tiles - 1 && next_item_reloads_q(p, index, end, m_tile, loaded_request))
          mbar_arrive(base + Sm::kBarQEmpty);
        mbar_arrive(base + Sm::kBarEmpty + 8 * stage);
      }
      continue;
    }

    if (warp == 0) {
      fp8t_row_table(p, v, a, lane, wgs);
      m_row = -INFINITY;
      r_row = 0.f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      sum[i] = 0.f;
#pragma unroll
      for (int x = 0; x < 16; ++x) o[i][x] = 0.f;
    }
    named_sync(bar_red, kWarpgroupThreads);  // the row table
    int32_t lo_all, hi_all;
    asm volatile("ld.shared.v2.s32 {%0, %1}, [%2];" : "=r"(lo_all), "=r"(hi_all) : "r"(wgs + Sm::kAll) : "memory");

    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kTStages;
      const uint32_t tile = base + Sm::kKV + stage * kFp8TileBytes;
      mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kTStages) & 1);
      fence_proxy_async();  // rows that cp.async wrote are read by wgmma
      // S^T = K.Q^T for this warpgroup's 32 rows (the register-V kernel's
      // promotion rule: every 2 k-steps).
      qgmma_promoted<2>(s, make_sw128_desc(tile, 16, 1024), q_desc);
      pin_regs(s);
      // Every thread of both warpgroups (kFp8tQEmptyArrivals): S^T was the
      // item's last read of Q.
      if (t == v.n_tiles - 1 && next_item_reloads_q(p, index, end, m_tile, loaded_request))
        mbar_arrive(base + Sm::kBarQEmpty);

      // ---- logits, mask, the row maxima of this warp ----
      const uint32_t wl = opaque_u32(wgs);
      const int32_t k0 = v.tile_base + t * kKeys;
      float sig[2], lsig[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        asm volatile("ld.shared.f32 %0, [%1];"
                     : "=f"(sig[h])
                     : "r"(base + Sm::kSigmaK + 4u * (64u * stage + 16u * warp + g + 8u * h))
                     : "memory");
        lsig[h] = fast_log2(fabsf(sig[h]));  // -inf for an unreadable key (sigma 0), NaN for NaN
      }
      const bool all_visible = lo_all <= k0 && hi_all >= k0 + int32_t(kKeys);
      float mloc[8], wloc[8];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float rf0, rf1;  // rows 8j + 2t, + 1
        asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];"
                     : "=f"(rf0), "=f"(rf1)
                     : "r"(wl + Sm::kRowF + 4u * (8u * j + 2u * t4))
                     : "memory");
        int32_t lo[2] = {INT_MIN, INT_MIN}, hi[2] = {INT_MAX, INT_MAX};
        if (!all_visible) {
#pragma unroll
          for (int e = 0; e < 2; ++e)
            asm volatile("ld.shared.v2.s32 {%0, %1}, [%2];"
                         : "=r"(lo[e]), "=r"(hi[e])
                         : "r"(wl + Sm::kRowKeys + 8u * (8u * j + 2u * t4 + e))
                         : "memory");
        }
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int ri = 2 * j + e;
          mloc[ri] = wloc[ri] = -INFINITY;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int i = 4 * j + 2 * h + e;
            const int32_t key = k0 + int32_t(16 * warp + g + 8 * h);
            const float x = s[i] * ((e ? rf1 : rf0) * sig[h]);
            s[i] = (key >= lo[e] && key < hi[e]) ? x : -INFINITY;
            mloc[ri] = fmaxf(mloc[ri], s[i]);
            wloc[ri] = fmaxf(wloc[ri], s[i] + lsig[h]);  // NaN (NaN key, masked x + NaN) drops out
          }
        }
      }
#pragma unroll
      for (int ri = 0; ri < 8; ++ri)
#pragma unroll
        for (int off = 4; off < 32; off <<= 1) {
          mloc[ri] = fmaxf(mloc[ri], __shfl_xor_sync(0xffffffffu, mloc[ri], off));
          wloc[ri] = fmaxf(wloc[ri], __shfl_xor_sync(0xffffffffu, wloc[ri], off));
        }
      if (g == 0) {
#pragma unroll
        for (int ri = 0; ri < 8; ++ri) {
          const uint32_t n = 8 * (ri >> 1) + 2 * t4 + (ri & 1);
          asm volatile("st.shared.v2.f32 [%0], {%1, %2};" ::"r"(wl + Sm::kRed + 8u * (32u * warp + n)),
                       "f"(mloc[ri]), "f"(wloc[ri])
                       : "memory");
        }
      }
      named_sync(bar_red, kWarpgroupThreads);

      // ---- warp 0: each row's new max, R and factors ----
      if (warp == 0) {
        float mt = -INFINITY, wt = -INFINITY;
#pragma unroll
        for (uint32_t w2 = 0; w2 < 4; ++w2) {
          float x, y;
          asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];"
                       : "=f"(x), "=f"(y)
                       : "r"(wl + Sm::kRed + 8u * (32u * w2 + lane))
                       : "memory");
          mt = fmaxf(mt, x);
          wt = fmaxf(wt, y);
        }
        const float m_new = fmaxf(m_row, mt);
        const float shift = m_new == -INFINITY ? 0.f : m_new;  // a row that saw nothing yet: keep everything 0
        const float alpha = fast_exp2(m_row - shift);          // 2^-inf = 0 on the first visible tile
        m_row = m_new;
        const float kept = r_row * alpha;
        const float r_new = fmaxf(fmaxf(kept, fast_exp2(wt - shift)), 0x1p-100f);
        float inv;
        asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(inv) : "f"(r_new));
        const float resc = r_new == kept ? 1.f : kept * inv;  // exactly 1: nothing moved
        r_row = r_new;
        asm volatile("st.shared.v4.f32 [%0], {%1, %2, %3, %4};" ::"r"(wl + Sm::kRowOut + 16u * lane), "f"(shift),
                     "f"(inv), "f"(alpha), "f"(resc)
                     : "memory");
      }
      named_sync(bar_rowout, kWarpgroupThreads);

      // ---- P'^T, the row sums, O^T's rescale ----
      uint32_t pa[2][2];
#pragma unroll
      for (uint32_t h = 0; h < 2; ++h)
#pragma unroll
        for (uint32_t e = 0; e < 2; ++e) pa[h][e] = opaque_u32(p_addr[h][e]);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float f[2][4];  // rows 8j + 2t + e: shift, 1 / R, alpha, rescale
#pragma unroll
        for (int e = 0; e < 2; ++e)
          asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];"
                       : "=f"(f[e][0]), "=f"(f[e][1]), "=f"(f[e][2]), "=f"(f[e][3])
                       : "r"(wl + Sm::kRowOut + 16u * (8u * j + 2u * t4 + e))
                       : "memory");
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int ri = 2 * j + e;
          float part = 0.f;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int i = 4 * j + 2 * h + e;
            const float pr = fast_exp2(s[i] - f[e][0]);
            part += pr;
            s[i] = pr != 0.f ? pr * sig[h] * f[e][1] : 0.f;  // 0 x NaN must not reach O^T
            asm volatile("st.shared.u16 [%0], %1;" ::"r"(pa[h][e] + 1024u * j), "h"(to_f16_bits(s[i])) : "memory");
          }
          sum[ri] = sum[ri] * f[e][2] + part;
        }
        // (Most tiles after the first few move no row's m or R: skip the
        // multiplications by 1 when none of the warp's rows needs them.)
        if (!__all_sync(0xffffffffu, f[0][3] == 1.f && f[1][3] == 1.f)) {
#pragma unroll
          for (int i = 0; i < 8; ++i)
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
              for (int e = 0; e < 2; ++e) o[i][4 * j + 2 * h + e] *= f[e][3];
        }
      }
      fence_proxy_async();  // P'^T is read by wgmma (async proxy)
      named_sync(bar_p, kWarpgroupThreads);

      // ---- O^T += V^T.P'^T ----
#pragma unroll
      for (int i = 0; i < 8; ++i) pin_regs(o[i]);
      const uint32_t vt0 = tile + opaque_u32(vt_off[0]), vt1 = tile + opaque_u32(vt_off[1]);
      fp8v_pv_by<8, kFp8tBufs>(
          o,
          [&](uint32_t i, uint32_t kp, uint32_t(&R)[4]) {
            ptx::ldmatrix_x4_trans((i & 1 ? vt1 : vt0) + (i >> 1) * kColBlockBytes + kp * 4096u, R);
          },
          p_desc, base + Sm::kBarEmpty + 8 * stage);
    }

    // ---- the item's end: row sums, R / sum, LSE, the output ----
#pragma unroll
    for (int ri = 0; ri < 8; ++ri) {
#pragma unroll
      for (int off = 4; off < 32; off <<= 1) sum[ri] += __shfl_xor_sync(0xffffffffu, sum[ri], off);
      if (g == 0) {
        const uint32_t n = 8 * (ri >> 1) + 2 * t4 + (ri & 1);
        asm volatile("st.shared.f32 [%0], %1;" ::"r"(wgs + Sm::kSums + 4u * (32u * warp + n)), "f"(sum[ri])
                     : "memory");
      }
    }
    named_sync(bar_red, kWarpgroupThreads);
    if (warp == 0) {
      float l = 0.f;
#pragma unroll
      for (uint32_t w2 = 0; w2 < 4; ++w2) {
        float x;
        asm volatile("ld.shared.f32 %0, [%1];" : "=f"(x) : "r"(wgs + Sm::kSums + 4u * (32u * w2 + lane)) : "memory");
        l += x;
      }
      const float inv_sum = l == 0.f ? 0.f : r_row / l;  // NaN l: NaN row
      asm volatile("st.shared.f32 [%0], %1;" ::"r"(wgs + Sm::kInvSum + 4u * lane), "f"(inv_sum) : "memory");
      const int32_t r = int32_t(kTRows * a + lane);
      if (r < v.rows) {
        const float lse = l == 0.f ? -INFINITY : (m_row + log2f(l)) * 0.69314718055994531f;
        if (v.partial_row < 0)
          p.lse[v.q_row0 + r] = lse;
        else
          p.partial_lse[int64_t(v.partial_row) + v.row0 + r] = lse;
      }
    }
    named_sync(bar_rowout, kWarpgroupThreads);
    // fp8v_store_output indexes 1 / sum by tile row: this warpgroup's table
    // starts at tile row 32 a.
    fp8v_store_output(p, v, warp, lane, 0, o, wgs + Sm::kInvSum - 4u * kTRows * a, kTRows * a);
  }
}

}  // namespace mla::cuda_impl::sm90
