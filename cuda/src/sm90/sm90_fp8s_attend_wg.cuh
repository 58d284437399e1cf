// sm90_fp8s_attend_wg.cuh - warpgroup 1 of the transposed small-H fp8-KV
// kernel (docs/fp8_small_h_design.md, sections 2, 3 and 7; step 2 of
// section 8: no overlap with the conversion).
//
// Per request: wait for the compact Q, convert it to FP16 in place with a
// power of two per row (the numerics of convert_q_fp8_in_place /
// convert_q_bf16_in_place in sm90_fp8_tile.cuh, on 16 rows of 2 KiB blocks).
// Per tile (hand-offs with WG 2 are barrier.sync on both sides, in the same
// order as there: VReady, PoolFree for every tile but an item's last;
// ItemEnd per item):
//   VReady -> S^T = K.Q^T: 32 wgmma m64n16k16 FP16 over the FP16 copy + 4
//   BF16 over the rope straight from the FP8 stage -> release the stage
//   -> logits x = S^T x row factor x sigma_k, masks, two maxima per row over
//   the keys (x and x + lg2|sigma_k|): the thread's 2 keys, the 8 lanes of a
//   row (shuffles), the 4 warps (shared memory + RedBar, an mbarrier of the
//   128 threads of this warpgroup)
//   -> per row m, alpha, R (R = max(R alpha, 2^(max(x + lg2|sigma|) - m),
//   2^-100)), P' = 2^(x - m) sigma_k / R in FP16, O^T rescaled by R alpha / R
//   -> P^T to shared memory (K-major [16 rows][64 keys]), PBar (mbarrier, 128)
//   -> O^T += V^T.P^T: 8 m-tiles x 4 k-steps of m64n16k16, V^T read from the
//   FP16 copy through trans-a = 1 -> wait -> PoolFree.
// Accumulator layout of m64n16 (sm90_epilogue.cuh): warp w, lane l, quad
// q = l % 4, g = l / 4: element 4j + 2h + e is M row 16w + g + 8h (a key of
// S^T, a value dim of O^T m-tile i: 64i + 16w + g + 8h) and N column
// 8j + 2q + e (a query row). So a thread holds 2 keys x 4 query rows of S^T;
// its rows n(ri) = 8 (ri / 2) + 2q + ri % 2, ri = 2j + e.
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_epilogue.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8_tile.cuh"
#include "sm90_fp8s_config.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"

namespace mla::cuda_impl::sm90 {

// The compact Q (16 rows) in place to FP16, thread `tid` of the warpgroup:
// row tid / 8 (warp w holds rows 4w..4w+3, so a row's bytes stay in one warp
// and a __syncwarp orders its reads before its writes), part tid % 8, which
// takes chunks part + 8i of the row (8 lanes = 8 chunks of one row per
// quarter-warp: conflict-free loads). Writes the row's e (S = 2^e x what
// the MMAs sum; kQExpNaN for an fp8 row with a NaN code) to q_exp[row]
// (int32). Follow with fence_proxy_async and a barrier of both consumer
// warpgroups (VReady) before wgmma or other warps read the result.
// kPermute (the register-A kernel, sm90_fp8r_attend_wg.cuh): within every
// 16 content dims, FP16 chunk 2c holds dims {0, 1, 4, 5, 8, 9, 12, 13} and
// chunk 2c + 1 dims {2, 3, 6, 7, 10, 11, 14, 15}: the order in which
// ldmatrix hands a thread the FP8 bytes of a key (fp8r_k_fragments); and
// that kernel's K content is the E4M3 value itself (cvt), not code x 2^-8,
// so e (and the rope's factor 2^-e) is 8 lower.
template <bool kQFp8, bool kPermute = false>
__device__ __forceinline__ void convert_q_compact(uint32_t q, uint32_t q_exp, uint32_t tid) {
  const uint32_t row = tid >> 3, part = tid & 7;
  int32_t e;
  if constexpr (kQFp8) {
    // FP8 content chunk c (16 codes) of the row at kQcFp8Off, FP16 chunks 2c,
    // 2c + 1 at 0: FP16 blocks 4-7 overwrite FP8 blocks 0-3 of the same rows.
    uint32_t w[4][4], nan = 0;
#pragma unroll
    for (uint32_t i = 0; i < 4; ++i) load_chunk(q + kQcFp8Off + qc_chunk_offset(row, part + 8 * i), w[i]);
    __syncwarp();
#pragma unroll
    for (uint32_t i = 0; i < 4; ++i) {
      const uint32_t c = part + 8 * i;
      uint32_t o[8];
#pragma unroll
      for (uint32_t k = 0; k < 4; ++k) {
        o[2 * k] = e4m3x2_to_f16x2<0x1404u>(w[i][k]);
        o[2 * k + 1] = e4m3x2_to_f16x2<0x3424u>(w[i][k]);
        nan |= nan_bytes(w[i][k]);
      }
      if constexpr (kPermute) {  // word j of o: dims 2j, 2j + 1 of the 16
        const uint32_t o1 = o[1], o3 = o[3], o5 = o[5];
        o[1] = o[2], o[2] = o[4], o[3] = o[6];
        o[4] = o1, o[5] = o3, o[6] = o5;  // o[7] stays
      }
      asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(q + qc_chunk_offset(row, 2 * c)), "r"(o[0]),
                   "r"(o[1]), "r"(o[2]), "r"(o[3])
                   : "memory");
      asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(q + qc_chunk_offset(row, 2 * c + 1)),
                   "r"(o[4]), "r"(o[5]), "r"(o[6]), "r"(o[7])
                   : "memory");
    }
    nan |= __shfl_xor_sync(0xffffffffu, nan, 1);
    nan |= __shfl_xor_sync(0xffffffffu, nan, 2);
    nan |= __shfl_xor_sync(0xffffffffu, nan, 4);
    e = kPermute ? 8 : 16;  // content code x 2^-8 against Q = code x sigma_q (K x 2^-8 too, unless kPermute)
    const float f = __int_as_float((127 - e) << 23);
    const uint32_t addr = q + qc_chunk_offset(row, 64 + part);
    uint32_t r[4];
    load_chunk(addr, r);
#pragma unroll
    for (uint32_t k = 0; k < 4; ++k)
      r[k] = pack_bf16x2(__uint_as_float(r[k] << 16) * f, __uint_as_float(r[k] & 0xFFFF0000u) * f);
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3])
                 : "memory");
    if (nan != 0) e = kQExpNaN;
  } else {
    uint32_t mx = 0;  // largest finite |BF16| bit pattern of the row
#pragma unroll
    for (uint32_t i = 0; i < 8; ++i) {
      uint32_t w[4];
      load_chunk(q + qc_chunk_offset(row, part + 8 * i), w);
#pragma unroll
      for (uint32_t k = 0; k < 4; ++k) {
        const uint32_t lo = w[k] & 0x7FFFu, hi = (w[k] >> 16) & 0x7FFFu;
        mx = max(mx, lo < 0x7F80u ? lo : 0u);
        mx = max(mx, hi < 0x7F80u ? hi : 0u);
      }
    }
    mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, 4));
    const int32_t biased = max(int32_t(mx >> 7), 1);
    const int32_t eq = mx == 0 ? 0 : max(biased - 127 - 14, -100);
    const float f = __int_as_float((127 - eq) << 23);  // 2^-eq
#pragma unroll
    for (uint32_t i = 0; i < 8; ++i) {
      const uint32_t addr = q + qc_chunk_offset(row, part + 8 * i);
      uint32_t w[4];
      load_chunk(addr, w);
#pragma unroll
      for (uint32_t k = 0; k < 4; ++k) {
        uint32_t h;
        asm("cvt.rn.f16x2.f32 %0, %1, %2;"
            : "=r"(h)
            : "f"(__uint_as_float(w[k] & 0xFFFF0000u) * f), "f"(__uint_as_float(w[k] << 16) * f));
        w[k] = h;
      }
      if constexpr (kPermute) {
        // Chunks 2c (even part: dims 0-7 of the 16) and 2c + 1 (the partner
        // lane, part ^ 1: dims 8-15): even keeps words 0, 2 and takes the
        // partner's 0, 2; odd takes the partner's 1, 3 and keeps its 1, 3.
        const bool even = (part & 1) == 0;
        const uint32_t give0 = even ? w[1] : w[0], give1 = even ? w[3] : w[2];
        const uint32_t got0 = __shfl_xor_sync(0xffffffffu, give0, 1);
        const uint32_t got1 = __shfl_xor_sync(0xffffffffu, give1, 1);
        if (even) {
          w[1] = w[2], w[2] = got0, w[3] = got1;
        } else {
          w[0] = got0, w[2] = w[1], w[1] = got1;  // w[3] stays
        }
      }
      asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "r"(w[0]), "r"(w[1]), "r"(w[2]),
                   "r"(w[3])
                   : "memory");
    }
    e = kPermute ? eq : eq + 8;
    const float fr = __int_as_float((127 - e) << 23);  // rope: 2^-(eq + 8)
    const uint32_t addr = q + qc_chunk_offset(row, 64 + part);
    uint32_t r[4];
    load_chunk(addr, r);
#pragma unroll
    for (uint32_t k = 0; k < 4; ++k)
      r[k] = pack_bf16x2(__uint_as_float(r[k] << 16) * fr, __uint_as_float(r[k] & 0xFFFF0000u) * fr);
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3])
                 : "memory");
  }
  if (part == 0) asm volatile("st.shared.s32 [%0], %1;" ::"r"(q_exp + 4 * row), "r"(e) : "memory");
  fence_proxy_async();  // the FP16 Q is read by wgmma (async proxy), after VReady
}

// One BF16 value, round to nearest even.
__device__ __forceinline__ uint16_t to_bf16_bits(float x) {
  uint16_t h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(x));
  return h;
}
__device__ __forceinline__ uint16_t to_f16_bits(float x) {
  uint16_t h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
  return h;
}

__device__ __forceinline__ float fast_log2(float x) {
  float y;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

template <bool kQFp8>
__device__ __forceinline__ void fp8s_attend_wg_loop(const DecodeParams& p, uint32_t base) {
  using Sm = Fp8sSmem;
  const uint32_t tid = threadIdx.x - kWarpgroupThreads;
  const uint32_t warp = tid >> 5, lane = tid & 31, quad = lane & 3, g = lane >> 2;
  const uint32_t qc = base + Sm::kQ, v16 = base + Sm::kV, pt = base + Sm::kP;

  float o[8][8];
  float s[8];
  uint32_t tile_count = 0, q_loads = 0, items_done = 0;
  int32_t loaded_request = -1;

  const int32_t end = p.part_begin[blockIdx.x + 1];
  for (int32_t index = p.part_begin[blockIdx.x]; index < end; ++index) {
    const ItemView v = view_item(p, index, 0);
    if (v.rows == 0) continue;
    // Per query row of the thread (ri = 2j + e: row 8j + 2 quad + e): running
    // max m (log2 domain), R, the thread's share of the sum over its keys,
    // the row factor, the visible keys [lo, hi) within the item.
    float m[4], r_scale[4], sum[4], rf[4];
    int32_t lo[4], hi[4];
#pragma unroll
    for (int ri = 0; ri < 4; ++ri) {
      const int32_t n = 8 * (ri >> 1) + 2 * int32_t(quad) + (ri & 1);
      m[ri] = -INFINITY;
      r_scale[ri] = 0.f;
      sum[ri] = 0.f;
      rf[ri] = 0.f;
      lo[ri] = 0;
      hi[ri] = 0;  // padding rows see nothing
      if (n < v.rows) {
        const KeyRange k = token_keys(p, v.kv_len, v.q_len, (v.row0 + n) / p.num_heads);
        lo[ri] = int32_t(k.begin > v.item_begin ? k.begin : v.item_begin);
        hi[ri] = int32_t(k.end < v.item_end ? k.end : v.item_end);
      }
    }
    if (v.n_tiles > 0 && v.request != loaded_request) {
      mbar_wait(base + Sm::kBarQFull, q_loads & 1);
      fence_proxy_async();
      convert_q_compact<kQFp8>(qc, base + Sm::kQExp, tid);
      ++q_loads;
      loaded_request = v.request;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int x = 0; x < 8; ++x) o[i][x] = 0.f;

    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kStages;
      const uint32_t tile = base + Sm::kKV + stage * kFp8TileBytes;
      const uint32_t par = tile_count & 1;
      // WG 2 wrote the tile's FP16 copy and sigma copy; for an item's first
      // tile this also publishes the Q conversion of every warp (q_exp too).
      named_sync(kBarSmallVReady, kConsumerThreads);
      // The rope MMAs read the FP8 stage itself: wait for it here too (its
      // phase completed before WG 2 passed VReady; this wait is what orders
      // this warpgroup's reads after the producer's writes, as in
      // sm90_fp8_softmax_wg.cuh), and the proxy fence for the cp.async rows.
      mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kStages) & 1);
      fence_proxy_async();
      if (t == 0) {
#pragma unroll
        for (int ri = 0; ri < 4; ++ri) {
          const int32_t n = 8 * (ri >> 1) + 2 * int32_t(quad) + (ri & 1);
          if (n < v.rows) {
            float sq = 1.f;
            if constexpr (kQFp8) sq = __ldg(p.q_scales + (v.q_row0 + n) / p.num_heads);
            int32_t e;
            asm volatile("ld.shared.s32 %0, [%1];" : "=r"(e) : "r"(base + Sm::kQExp + 4u * uint32_t(n)) : "memory");
            const float pow2 = e == kQExpNaN ? __int_as_float(0x7fc00000) : __int_as_float((127 + e) << 23);
            rf[ri] = sq * p.scale_log2 * pow2;
          }
        }
      }

      // S^T = K.Q^T: content (FP16 copy x compact FP16 Q), then the rope
      // (BF16, from the FP8 stage) into the same accumulator, a fence between
      // the two input kinds.
      wgmma_fence();
      if constexpr ((kFp8DevVariant & 4) == 0) {  // measurement builds: no S
#pragma unroll
        for (uint32_t kk = 0; kk < 32; ++kk)
          wgmma_m64n16k16_f16_ss(s, make_sw128_desc(fp8s_k_addr(v16, kk), 16, 1024),
                                 make_sw128_desc(fp8s_q_addr(qc, kk), 16, 1024), kk > 0 ? 1u : 0u);
        wgmma_fence();
#pragma unroll
        for (uint32_t kk = 0; kk < 4; ++kk)
          wgmma_m64n16k16_ss(s, make_sw128_desc(tile + kFp8RopeBlock * kColBlockBytes + kk * 32, 16, 1024),
                             make_sw128_desc(fp8s_q_addr(qc, 32 + kk), 16, 1024), 1u);
      } else {
        for (int x = 0; x < 8; ++x) s[x] = 0.f;
      }
      wgmma_commit();
      wgmma_wait<0>();
      pin_regs(s);
      // The rope read was this warpgroup's last read of the stage.
      mbar_arrive(base + Sm::kBarEmpty + 8 * stage);  // every thread (kFp8EmptyArrivals)
      if (t == v.n_tiles - 1 && next_item_reloads_q(p, index, end, 0, loaded_request))
        mbar_arrive(base + Sm::kBarQEmpty);  // every thread (kFp8QEmptyArrivals)

      // ---- softmax over the keys ----
      const int32_t k0 = v.tile_base + t * kKeys;
      float sig[2], lsig[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        asm volatile("ld.shared.f32 %0, [%1];"
                     : "=f"(sig[h])
                     : "r"(base + Sm::kSigmaS + 4u * (16u * warp + g + 8u * h))
                     : "memory");
        lsig[h] = fast_log2(fabsf(sig[h]));  // -inf for an unreadable key (sigma 0), NaN for NaN
      }
      bool all_visible = true;
#pragma unroll
      for (int ri = 0; ri < 4; ++ri) all_visible = all_visible && lo[ri] <= k0 && hi[ri] >= k0 + kKeys;
      float mloc[4], wloc[4];
#pragma unroll
      for (int ri = 0; ri < 4; ++ri) mloc[ri] = wloc[ri] = -INFINITY;
#pragma unroll
      for (int x = 0; x < 8; ++x) {
        const int ri = 2 * (x >> 2) + (x & 1), h = (x >> 1) & 1;
        const int32_t key = k0 + int32_t(16 * warp + g) + 8 * h;
        const float val = s[x] * (rf[ri] * sig[h]);
        s[x] = (all_visible || (key >= lo[ri] && key < hi[ri])) ? val : -INFINITY;
        mloc[ri] = fmaxf(mloc[ri], s[x]);
        wloc[ri] = fmaxf(wloc[ri], s[x] + lsig[h]);  // NaN (NaN key, masked x + NaN) drops out
      }
#pragma unroll
      for (int ri = 0; ri < 4; ++ri)
#pragma unroll
        for (int off = 4; off < 32; off <<= 1) {
          mloc[ri] = fmaxf(mloc[ri], __shfl_xor_sync(0xffffffffu, mloc[ri], off));
          wloc[ri] = fmaxf(wloc[ri], __shfl_xor_sync(0xffffffffu, wloc[ri], off));
        }
      // Across the 4 warps: red[par][warp][row] = {m, w}; every thread
      // arrives on RedBar (double-buffered by tile parity: a warp is at most
      // one round ahead, PBar and VReady stand between two rounds).
      const uint32_t red = base + Sm::kRed + par * (4 * 16 * 8);
      if (g == 0) {
#pragma unroll
        for (int ri = 0; ri < 4; ++ri) {
          const uint32_t n = 8 * (ri >> 1) + 2 * quad + (ri & 1);
          asm volatile("st.shared.v2.f32 [%0], {%1, %2};" ::"r"(red + (warp * 16 + n) * 8), "f"(mloc[ri]),
                       "f"(wloc[ri])
                       : "memory");
        }
      }
      mbar_arrive(base + Sm::kBarRed);
      mbar_wait(base + Sm::kBarRed, par);
      float shift[4], inv[4], alpha[4], resc[4];
#pragma unroll
      for (int ri = 0; ri < 4; ++ri) {
        const uint32_t n = 8 * (ri >> 1) + 2 * quad + (ri & 1);
        float mt = -INFINITY, wt = -INFINITY;
#pragma unroll
        for (uint32_t w2 = 0; w2 < 4; ++w2) {
          float a, b;
          asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];" : "=f"(a), "=f"(b) : "r"(red + (w2 * 16 + n) * 8) : "memory");
          mt = fmaxf(mt, a);
          wt = fmaxf(wt, b);
        }
        const float m_new = fmaxf(m[ri], mt);
        shift[ri] = m_new == -INFINITY ? 0.f : m_new;  // a row that saw nothing yet: keep everything 0
        alpha[ri] = fast_exp2(m[ri] - shift[ri]);      // 2^-inf = 0 on the first visible tile
        m[ri] = m_new;
        // R: the largest |p sigma_k| of the tile is 2^(max(x + lg2|sigma|) - m).
        const float kept = r_scale[ri] * alpha[ri];
        const float r_new = fmaxf(fmaxf(kept, fast_exp2(wt - shift[ri])), 0x1p-100f);
        inv[ri] = __frcp_rn(r_new);
        r_scale[ri] = r_new;
        resc[ri] = kept * inv[ri];  // O^T's rescale factor
      }
      float part[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int x = 0; x < 8; ++x) {
        const int ri = 2 * (x >> 2) + (x & 1), h = (x >> 1) & 1;
        const float pr = fast_exp2(s[x] - shift[ri]);
        part[ri] += pr;
        s[x] = pr != 0.f ? pr * sig[h] : 0.f;  // 0 x NaN must not reach O^T
        s[x] *= inv[ri];
      }
#pragma unroll
      for (int ri = 0; ri < 4; ++ri) sum[ri] = sum[ri] * alpha[ri] + part[ri];
      // O^T x R_old alpha / R per query row (column n of every m-tile).
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int x = 0; x < 8; ++x) o[i][x] *= resc[2 * (x >> 2) + (x & 1)];
      // P^T (row n, key k) in FP16: 8 lanes of one quad write 8 consecutive
      // keys of one row, the 4 quads 4 rows in 4 different chunks.
#pragma unroll
      for (int x = 0; x < 8; ++x) {
        const uint32_t n = 8 * (x >> 2) + 2 * quad + (x & 1), key = 16 * warp + g + 8 * ((x >> 1) & 1);
        asm volatile("st.shared.u16 [%0], %1;" ::"r"(pt + fp8s_p_offset(n, key)), "h"(to_f16_bits(s[x])) : "memory");
      }
      fence_proxy_async();  // P^T is read by wgmma (async proxy)
      mbar_arrive(base + Sm::kBarP);
      mbar_wait(base + Sm::kBarP, par);

      // O^T += V^T.P^T, V^T MN-major from the FP16 copy (trans-a = 1).
#pragma unroll
      for (int i = 0; i < 8; ++i) pin_regs(o[i]);
      wgmma_fence();
      if constexpr ((kFp8DevVariant & 8) == 0) {  // measurement builds: no P.V
#pragma unroll
        for (uint32_t kk = 0; kk < 4; ++kk)
#pragma unroll
          for (uint32_t i = 0; i < 8; ++i)
            wgmma_m64n16k16_f16_ss_ta(o[i], make_sw128_desc(fp8s_vt_addr(v16, i, kk), kColBlockBytes, 1024),
                                      make_sw128_desc(fp8s_p_addr(pt, kk), 16, 1024), 1u);
      }
      wgmma_commit();
      wgmma_wait<0>();
#pragma unroll
      for (int i = 0; i < 8; ++i) pin_regs(o[i]);
      // The FP16 copy, sigma copy and P^T of this tile are no longer read.
      if (t < v.n_tiles - 1) named_sync(kBarSmallPoolFree, kConsumerThreads);
    }

    // ---- epilogue: the row sums over 8 lanes x 4 warps ----
    const uint32_t sums = base + Sm::kSum + (items_done & 1) * (4 * 16 * 4);
#pragma unroll
    for (int ri = 0; ri < 4; ++ri) {
#pragma unroll
      for (int off = 4; off < 32; off <<= 1) sum[ri] += __shfl_xor_sync(0xffffffffu, sum[ri], off);
      if (g == 0) {
        const uint32_t n = 8 * (ri >> 1) + 2 * quad + (ri & 1);
        asm volatile("st.shared.f32 [%0], %1;" ::"r"(sums + (warp * 16 + n) * 4), "f"(sum[ri]) : "memory");
      }
    }
    // The item's last wgmma completed: WG 2 may convert the next item's
    // first tile; the sums of every warp are in.
    named_sync(kBarItemEnd, kConsumerThreads);
    float inv_sum[4], lse[4];
#pragma unroll
    for (int ri = 0; ri < 4; ++ri) {
      const uint32_t n = 8 * (ri >> 1) + 2 * quad + (ri & 1);
      float l = 0.f;
#pragma unroll
      for (uint32_t w2 = 0; w2 < 4; ++w2) {
        float a;
        asm volatile("ld.shared.f32 %0, [%1];" : "=f"(a) : "r"(sums + (w2 * 16 + n) * 4) : "memory");
        l += a;
      }
      // O R 2^8 / l (V = code x 2^-8); NaN l: NaN row
      inv_sum[ri] = l == 0.f ? 0.f : r_scale[ri] * 256.f / l;
      lse[ri] = l == 0.f ? -INFINITY : (m[ri] + log2f(l)) * 0.69314718055994531f;
    }
#pragma unroll
    for (int ri = 0; ri < 4; ++ri) {
      const int32_t n = 8 * (ri >> 1) + 2 * int32_t(quad) + (ri & 1);
      if (n >= v.rows) continue;
      const int x0 = 4 * (ri >> 1) + (ri & 1);  // element 4j + 2h + e, h added below
      if (v.partial_row < 0) {
        uint16_t* dst = p.out + (v.q_row0 + n) * int64_t(MLA_DIM_V) + 16 * warp + g;
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int h = 0; h < 2; ++h) dst[64 * i + 8 * h] = to_bf16_bits(o[i][x0 + 2 * h] * inv_sum[ri]);
      } else {
        float* dst = p.partial_out + (int64_t(v.partial_row) + v.row0 + n) * int64_t(MLA_DIM_V) + 16 * warp + g;
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int h = 0; h < 2; ++h) dst[64 * i + 8 * h] = o[i][x0 + 2 * h] * inv_sum[ri];
      }
      if (warp == 0 && g == 0) {
        if (v.partial_row < 0)
          p.lse[v.q_row0 + n] = lse[ri];
        else
          p.partial_lse[int64_t(v.partial_row) + v.row0 + n] = lse[ri];
      }
    }
    ++items_done;
  }
}

}  // namespace mla::cuda_impl::sm90
