// sm90_fp8r_attend_wg.cuh - the two attend warpgroups of the register-A
// small-H fp8-KV kernel (sm90_fp8r_config.cuh). Warpgroup `wg` (0: WG 1,
// 1: WG 2) takes the tiles of global index = wg mod 2, each start to end:
//   wait for the stage -> S^T = K.Q^T: K fragments by ldmatrix from the FP8
//   stage, E4M3 -> FP16 in registers (cvt: the value, exact; a NaN code
//   gives NaN logits), 32 RS wgmma m64n16k16 in MLA_SM90_FP8R_SBATCHES
//   batches (two register buffers), + 4 SS BF16 wgmma over the rope
//   -> softmax over the keys (this warpgroup's own RedBar / PBar and
//   buffers; R keeps P' near or below 1 whatever sigma_k: R comes from the
//   approximate exp2 / log2 of the largest x + lg2|sigma_k|, so P' may pass 1
//   by a rounding, far from FP16's range) -> P^T to shared memory
//   -> O^T += V^T.P^T: V^T fragments by ldmatrix.trans from the same stage
//   (the values by cvt; in a tile whose raw S^T holds a NaN, code x 2^-8 by
//   the bit trick of sm90_fp8_tile.cuh, NaN codes made finite, so that a
//   hidden key's V meets P = 0, never 0 x NaN), 8 m-tiles x 4 k-steps of RS
//   wgmma (two register buffers) -> release the stage once its last
//   fragment is in registers.
// Per item, the two warpgroups merge: both write their row sums, WG 2 its
// O^T, m and R (MergeReady); WG 1 folds them into its own and writes the
// output; MergeFree.
// Register fragments (per warp w, lane l, t = l % 4, g = l / 4):
//  - K (S^T A, m = keys 16w.., k = 16 dims): ldmatrix gives bytes 4t..4t+3
//    of a 16-byte group, so logical column 2t + e is dim 4t + e and 2t + 8 +
//    e is dim 4t + 2 + e; the compact Q is stored in that order
//    (convert_q_compact<kQFp8, true>).
//  - V^T (O^T A, m = value dims, k = 16 keys): ldmatrix.trans gives keys 2t,
//    2t + 1 of dims 2g, 2g + 1, so logical row g is dim 2g and g + 8 is dim
//    2g + 1: accumulator element 4j + 2h + e of m-tile i is value dim 64i +
//    16w + 2g + h, query row 8j + 2t + e.
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "../portable/ptx_sm80.cuh"
#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8_frags.cuh"
#include "sm90_fp8_tile.cuh"
#include "sm90_fp8r_config.cuh"
#include "sm90_fp8s_config.cuh"
#include "sm90_fp8s_q.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"

namespace mla::cuda_impl::sm90 {

// K fragments of FP8 32-byte chunk kc (dims 32kc..32kc + 31) for keys 16w..:
// fp8r_k_load brings the 16 codes of the thread (ldmatrix), fp8r_k_convert
// makes two k-steps of them (a[0]: dims 32kc.., a[1]: 32kc + 16..), E4M3
// values by cvt. Split so that the next chunk's load is in flight while this
// one converts. A NaN code makes its key's logits NaN, as the reference (a
// hidden key's logit is replaced by -inf, so it cannot reach a row it is
// hidden from).
__device__ __forceinline__ void fp8r_k_load(uint32_t tile, uint32_t warp, uint32_t lane, uint32_t kc,
                                            uint32_t (&R)[4]) {
  const uint32_t j = lane >> 3, r = lane & 7;
  ptx::ldmatrix_x4(tile + fp8_kv_chunk_offset(16 * warp + 8 * (j & 1) + r, 2 * kc + (j >> 1)), R);
}
__device__ __forceinline__ void fp8r_k_convert(const uint32_t (&R)[4], uint32_t (&a)[2][4]) {
#pragma unroll
  for (uint32_t s = 0; s < 2; ++s) {
    e4m3x4_to_f16x2x2(R[2 * s], a[s][0], a[s][2]);
    e4m3x4_to_f16x2x2(R[2 * s + 1], a[s][1], a[s][3]);
  }
}

// V^T fragments of m-tile i (value dims 64i + 16w..) for k-steps 2kp, 2kp + 1
// (keys 32kp..32kp + 31): fp8r_vt_load (ldmatrix.trans, sm90_fp8_frags.cuh), fp8r_vt_convert.
// kFinite (a tile with a NaN code): code x 2^-8 by the bit trick of
// sm90_fp8_tile.cuh, NaN codes made finite, so that a key hidden from a row
// meets P = 0, never 0 x NaN; otherwise the values by cvt (a byte permute
// puts keys 2t, 2t + 1 of one dim side by side).
template <bool kFinite>
__device__ __forceinline__ void fp8r_vt_convert(const uint32_t (&R)[4], uint32_t (&a)[2][4]) {
#pragma unroll
  for (uint32_t s = 0; s < 2; ++s) {
    if constexpr (kFinite) {
      a[s][0] = e4m3x2_to_f16x2<0x2404u>(R[2 * s]);
      a[s][1] = e4m3x2_to_f16x2<0x3414u>(R[2 * s]);
      a[s][2] = e4m3x2_to_f16x2<0x2404u>(R[2 * s + 1]);
      a[s][3] = e4m3x2_to_f16x2<0x3414u>(R[2 * s + 1]);
    } else {
#pragma unroll
      for (uint32_t h = 0; h < 2; ++h) {
        uint32_t x;  // bytes 0, 2, 1, 3: (key 2t, key 2t + 1) of dim 2g, then of dim 2g + 1
        asm("prmt.b32 %0, %1, 0, 0x3120;" : "=r"(x) : "r"(R[2 * s + h]));
        e4m3x4_to_f16x2x2(x, a[s][2 * h], a[s][2 * h + 1]);
      }
    }
  }
}

// O^T += V^T.P^T for one tile: per m-tile 4 k-steps, two register buffers;
// arrives on `empty` (the stage) once its last fragment is in registers.
// p_desc: the descriptor of this warpgroup's P^T (k-step 0).
template <bool kFinite>
__device__ __forceinline__ void fp8r_pv(float (&o)[8][8], uint32_t tile, uint32_t warp, uint32_t lane,
                                        uint64_t p_desc, uint32_t empty) {
  uint32_t va[2][4][4];
  uint32_t raw[2][4];  // the next m-tile's codes, loaded one m-tile ahead
#pragma unroll
  for (uint32_t kp = 0; kp < 2; ++kp) fp8r_vt_load(tile, warp, lane, 0, kp, raw[kp]);
#pragma unroll
  for (uint32_t i = 0; i < 8; ++i) {
    const uint32_t buf = i & 1;
    if (i >= 2) {
      wgmma_wait<1>();  // m-tile i - 2 (same buffer) completed
      pin_frags(va[buf]);
    }
#pragma unroll
    for (uint32_t kp = 0; kp < 2; ++kp) {
      uint32_t two[2][4];
      fp8r_vt_convert<kFinite>(raw[kp], two);
#pragma unroll
      for (uint32_t x = 0; x < 4; ++x) {
        va[buf][2 * kp][x] = two[0][x];
        va[buf][2 * kp + 1][x] = two[1][x];
      }
    }
    if (i < 7) {
#pragma unroll
      for (uint32_t kp = 0; kp < 2; ++kp) fp8r_vt_load(tile, warp, lane, i + 1, kp, raw[kp]);
    } else {
      mbar_arrive(empty);  // the stage's last read is in registers (every thread)
    }
    wgmma_fence();
    if constexpr ((kFp8DevVariant & 8) == 0) {  // measurement builds: no P.V
#pragma unroll
      for (uint32_t kk = 0; kk < 4; ++kk)
        wgmma_m64n16k16_f16_rs(o[i], va[buf][kk], desc_advance(p_desc, fp8s_p_addr(0, kk)), 1u);
    }
    wgmma_commit();
  }
  wgmma_wait<0>();
  pin_frags(va[0]);
  pin_frags(va[1]);
}

template <bool kQFp8>
__device__ __forceinline__ void fp8r_attend_wg_loop(const DecodeParams& p, uint32_t base, uint32_t wg) {
  using Sm = Fp8rSmem;
  const uint32_t tid = threadIdx.x - kWarpgroupThreads * (1 + wg);
  const uint32_t warp = tid >> 5, lane = tid & 31, quad = lane & 3, g = lane >> 2;
  const uint32_t qc = base + Sm::kQ, pt = base + Sm::kP + wg * kQcBlockBytes;
  const uint32_t red_bar = base + Sm::kBarRed + 8 * wg, p_bar = base + Sm::kBarP + 8 * wg;
  // Descriptors at offset 0; each wgmma adds its operand's byte offset.
  const uint64_t q_desc = make_sw128_desc(qc, 16, 1024), p_desc = make_sw128_desc(pt, 16, 1024);

  float o[8][8];
  float s[8];
  uint32_t tile_count = 0, my_tiles = 0, q_loads = 0;
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
      // WG 1 converts the request's Q in place (permuted for the K
      // fragments); QReady publishes it (and q_exp) to both warpgroups.
      if (wg == 0) {
        mbar_wait(base + Sm::kBarQFull, q_loads & 1);
        fence_proxy_async();
        convert_q_compact<kQFp8>(qc, base + Sm::kQExp, tid);
      }
      named_sync(kBarRQReady, kConsumerThreads);
      ++q_loads;
      loaded_request = v.request;
    }
    if (v.n_tiles > 0) {
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
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int x = 0; x < 8; ++x) o[i][x] = 0.f;

    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      if ((tile_count & 1u) != wg) continue;  // the other warpgroup's tile
      const uint32_t stage = tile_count % kRStages;
      const uint32_t tile = base + Sm::kKV + stage * kFp8TileBytes;
      const uint32_t par = my_tiles & 1;
      ++my_tiles;
      mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kRStages) & 1);
      if constexpr ((kFp8DevVariant & 16) != 0) {  // measurement builds: loads only
        mbar_arrive(base + Sm::kBarEmpty + 8 * stage);
        continue;
      }
      fence_proxy_async();  // the rope wgmma reads rows that cp.async wrote

      // The stage's rope (and content, k_desc) in its KV layout (fp8_kv_step_offset).
      const uint64_t rope_desc = make_sw128_desc(tile + fp8_kv_step_offset(4 * kFp8RopeBlock), 16, kFp8KvGroupStride);
      // ---- S^T = K.Q^T: kSBatches batches of 32 / kSBatches k-steps, two
      // register buffers (a batch's wgmma run while the next converts) ----
      constexpr uint32_t kSBatches = MLA_SM90_FP8R_SBATCHES, kSteps = 32 / kSBatches, kChunks = kSteps / 2;
      if constexpr (kQFp8 && kFp8rQgmma) {
        // QGMMA over the content in groups of kFp8rPromote k-steps (32 dims
        // each), four groups at a time into their own accumulators, then
        // added to s in fp32; the rope on the BF16 cores straight into s.
        constexpr uint32_t kGroups = 16 / kFp8rPromote, kRounds = kGroups / 4;
        float t[4][8];
        const uint64_t k_desc = make_sw128_desc(tile, 16, kFp8KvGroupStride);
        const uint64_t q8_desc = make_sw128_desc(qc + kQcFp8Off, 16, 1024);
#pragma unroll
        for (uint32_t rd = 0; rd < kRounds; ++rd) {
          if (rd > 0) {
            for (int u = 0; u < 4; ++u) pin_regs(t[u]);
          }
          wgmma_fence();
          if constexpr ((kFp8DevVariant & 4) == 0) {  // measurement builds: no S
            if (rd == 0) {
#pragma unroll
              for (uint32_t kk = 0; kk < 4; ++kk)
                wgmma_m64n16k16_ss(s, desc_advance(rope_desc, kk * 32),
                                   desc_advance(q_desc, fp8s_q_addr(0, 32 + kk)), kk > 0 ? 1u : 0u);
            }
#pragma unroll
            for (uint32_t u = 0; u < 4; ++u)
#pragma unroll
              for (uint32_t j = 0; j < kFp8rPromote; ++j) {
                const uint32_t kk = (4 * rd + u) * kFp8rPromote + j;  // 32 dims: block kk / 4, 32 B steps
                wgmma_m64n16k32_e4m3_ss(t[u], desc_advance(k_desc, fp8_kv_step_offset(kk)),
                                        desc_advance(q8_desc, fp8s_q_addr(0, kk)), j > 0 ? 1u : 0u);
              }
          }
          wgmma_commit();
          wgmma_wait<0>();
#pragma unroll
          for (int u = 0; u < 4; ++u) pin_regs(t[u]);
          if constexpr ((kFp8DevVariant & 4) == 0) {
            pin_regs(s);
#pragma unroll
            for (int x = 0; x < 8; ++x) s[x] += (t[0][x] + t[1][x]) + (t[2][x] + t[3][x]);
          }
        }
      } else {
        uint32_t ka[2][kSteps][4];
        uint32_t raw[kChunks][4];  // the next batch's codes, loaded one batch ahead
  #pragma unroll
        for (uint32_t c = 0; c < kChunks; ++c) fp8r_k_load(tile, warp, lane, c, raw[c]);
  #pragma unroll
        for (uint32_t b = 0; b < kSBatches; ++b) {
          const uint32_t buf = b & 1;
          if (b >= 2) {
            wgmma_wait<1>();  // batch b - 2 (same buffer) completed
            pin_frags(ka[buf]);
          }
  #pragma unroll
          for (uint32_t c = 0; c < kChunks; ++c) {
            uint32_t two[2][4];
            fp8r_k_convert(raw[c], two);
  #pragma unroll
            for (uint32_t x = 0; x < 4; ++x) {
              ka[buf][2 * c][x] = two[0][x];
              ka[buf][2 * c + 1][x] = two[1][x];
            }
          }
          if (b + 1 < kSBatches) {
  #pragma unroll
            for (uint32_t c = 0; c < kChunks; ++c) fp8r_k_load(tile, warp, lane, kChunks * (b + 1) + c, raw[c]);
          }
          wgmma_fence();
          if constexpr ((kFp8DevVariant & 4) == 0) {  // measurement builds: no S
  #pragma unroll
            for (uint32_t k = 0; k < kSteps; ++k)
              wgmma_m64n16k16_f16_rs(s, ka[buf][k], desc_advance(q_desc, fp8s_q_addr(0, kSteps * b + k)),
                                     (b > 0 || k > 0) ? 1u : 0u);
            if (b == kSBatches - 1) {
              wgmma_fence();
  #pragma unroll
              for (uint32_t kk = 0; kk < 4; ++kk)
                wgmma_m64n16k16_ss(s, desc_advance(rope_desc, kk * 32), desc_advance(q_desc, fp8s_q_addr(0, 32 + kk)),
                                   1u);
            }
          }
          wgmma_commit();
        }
        wgmma_wait<0>();
        pin_frags(ka[0]);
        pin_frags(ka[1]);
      }
      if constexpr ((kFp8DevVariant & 4) != 0)
        for (int x = 0; x < 8; ++x) s[x] = 0.f;
      pin_regs(s);
      // ---- softmax over the keys ----
      const int32_t k0 = v.tile_base + t * kKeys;
      float sig[2], lsig[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float sk;
        asm volatile("ld.shared.f32 %0, [%1];"
                     : "=f"(sk)
                     : "r"(base + Sm::kSigmaK + 4u * (64u * stage + 16u * warp + g + 8u * h))
                     : "memory");
        sig[h] = sk;
        lsig[h] = fast_log2(fabsf(sig[h]));  // -inf for an unreadable key (sigma 0), NaN for NaN
      }
      // A NaN code anywhere in a key's content makes its raw S^T NaN (Q
      // finite or not): such a tile takes the finite V conversion.
      bool raw_nan = false;
#pragma unroll
      for (int x = 0; x < 8; ++x) raw_nan = raw_nan || isnan(s[x]);
      raw_nan = __any_sync(0xffffffffu, raw_nan);
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
      // Across the 4 warps: red[wg][par][warp][row] = {m, w}; every thread
      // arrives on this warpgroup's RedBar (double-buffered by parity: PBar
      // stands between two rounds).
      const uint32_t red = base + Sm::kRed + wg * (2 * 4 * 16 * 8) + par * (4 * 16 * 8);
      const uint32_t nan_flags = base + Sm::kTileNan + (wg * 2 + par) * 16;
      if (lane == 0) asm volatile("st.shared.u32 [%0], %1;" ::"r"(nan_flags + 4 * warp), "r"(uint32_t(raw_nan)) : "memory");
      if (g == 0) {
#pragma unroll
        for (int ri = 0; ri < 4; ++ri) {
          const uint32_t n = 8 * (ri >> 1) + 2 * quad + (ri & 1);
          asm volatile("st.shared.v2.f32 [%0], {%1, %2};" ::"r"(red + (warp * 16 + n) * 8), "f"(mloc[ri]),
                       "f"(wloc[ri])
                       : "memory");
        }
      }
      mbar_arrive(red_bar);
      mbar_wait(red_bar, par);
      bool tile_nan;
      {
        uint32_t f0, f1, f2, f3;
        asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(f0), "=r"(f1), "=r"(f2), "=r"(f3)
                     : "r"(nan_flags)
                     : "memory");
        tile_nan = (f0 | f1 | f2 | f3) != 0;
      }
      // V is the E4M3 value, or code x 2^-8 in a NaN tile: P' x 2^8 there.
      const float p_unit = tile_nan ? 256.f : 1.f;
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
        const float kept = r_scale[ri] * alpha[ri];
        const float r_new = fmaxf(fmaxf(kept, fast_exp2(wt - shift[ri])), 0x1p-100f);
        inv[ri] = __frcp_rn(r_new);
        r_scale[ri] = r_new;
        resc[ri] = r_new == kept ? 1.f : kept * inv[ri];  // O^T's rescale factor (exactly 1: nothing moved)
      }
      float part[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int x = 0; x < 8; ++x) {
        const int ri = 2 * (x >> 2) + (x & 1), h = (x >> 1) & 1;
        const float pr = fast_exp2(s[x] - shift[ri]);
        part[ri] += pr;
        s[x] = pr != 0.f ? pr * sig[h] : 0.f;  // 0 x NaN must not reach O^T
        s[x] *= inv[ri] * p_unit;
      }
#pragma unroll
      for (int ri = 0; ri < 4; ++ri) sum[ri] = sum[ri] * alpha[ri] + part[ri];
      // (Most tiles after the first few move no row's m or R: skip the 64
      // multiplications by 1 when none of the warp's rows needs them.)
      if (!__all_sync(0xffffffffu, resc[0] == 1.f && resc[1] == 1.f && resc[2] == 1.f && resc[3] == 1.f)) {
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int x = 0; x < 8; ++x) o[i][x] *= resc[2 * (x >> 2) + (x & 1)];
      }
#pragma unroll
      for (int x = 0; x < 8; ++x) {
        const uint32_t n = 8 * (x >> 2) + 2 * quad + (x & 1), key = 16 * warp + g + 8 * ((x >> 1) & 1);
        asm volatile("st.shared.u16 [%0], %1;" ::"r"(pt + fp8s_p_offset(n, key)), "h"(to_f16_bits(s[x])) : "memory");
      }
      fence_proxy_async();  // P^T is read by wgmma (async proxy)
      mbar_arrive(p_bar);
      mbar_wait(p_bar, par);

      // ---- O^T += V^T.P^T ----
#pragma unroll
      for (int i = 0; i < 8; ++i) pin_regs(o[i]);
      if (tile_nan)
        fp8r_pv<true>(o, tile, warp, lane, p_desc, base + Sm::kBarEmpty + 8 * stage);
      else
        fp8r_pv<false>(o, tile, warp, lane, p_desc, base + Sm::kBarEmpty + 8 * stage);
#pragma unroll
      for (int i = 0; i < 8; ++i) pin_regs(o[i]);
    }
    // This warpgroup no longer reads the item's Q.
    if (v.n_tiles > 0 && next_item_reloads_q(p, index, end, 0, loaded_request))
      mbar_arrive(base + Sm::kBarQEmpty);  // every thread of both (kFp8rQEmptyArrivals)

    // ---- merge: row sums of both warpgroups, WG 2's O^T, m, R ----
    const uint32_t sums = base + Sm::kSum + wg * (4 * 16 * 4);
#pragma unroll
    for (int ri = 0; ri < 4; ++ri) {
#pragma unroll
      for (int off = 4; off < 32; off <<= 1) sum[ri] += __shfl_xor_sync(0xffffffffu, sum[ri], off);
      if (g == 0) {
        const uint32_t n = 8 * (ri >> 1) + 2 * quad + (ri & 1);
        asm volatile("st.shared.f32 [%0], %1;" ::"r"(sums + (warp * 16 + n) * 4), "f"(sum[ri]) : "memory");
      }
    }
    if (wg == 1) {
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int h2 = 0; h2 < 2; ++h2)
          asm volatile("st.shared.v4.f32 [%0], {%1, %2, %3, %4};" ::"r"(base + Sm::kMerge +
                                                                          ((2 * i + h2) * 128 + tid) * 16),
                       "f"(o[i][4 * h2]), "f"(o[i][4 * h2 + 1]), "f"(o[i][4 * h2 + 2]), "f"(o[i][4 * h2 + 3])
                       : "memory");
      if (warp == 0 && g == 0) {
#pragma unroll
        for (int ri = 0; ri < 4; ++ri) {
          const uint32_t n = 8 * (ri >> 1) + 2 * quad + (ri & 1);
          asm volatile("st.shared.v2.f32 [%0], {%1, %2};" ::"r"(base + Sm::kMergeRow + n * 8), "f"(m[ri]),
                       "f"(r_scale[ri])
                       : "memory");
        }
      }
    }
    named_sync(kBarRMergeReady, kConsumerThreads);
    if (wg == 1) {
      named_sync(kBarRMergeFree, kConsumerThreads);
      continue;
    }
    // WG 1: out = (o1 R1 a1 + o2 R2 a2) / (l1 a1 + l2 a2), a_k = 2^(m_k - m).
    float c1[4], c2[4], lse[4];
#pragma unroll
    for (int ri = 0; ri < 4; ++ri) {
      const uint32_t n = 8 * (ri >> 1) + 2 * quad + (ri & 1);
      float l1 = 0.f, l2 = 0.f;
#pragma unroll
      for (uint32_t w2 = 0; w2 < 4; ++w2) {
        float a, b;
        asm volatile("ld.shared.f32 %0, [%1];" : "=f"(a) : "r"(base + Sm::kSum + (w2 * 16 + n) * 4) : "memory");
        asm volatile("ld.shared.f32 %0, [%1];" : "=f"(b) : "r"(base + Sm::kSum + 256 + (w2 * 16 + n) * 4) : "memory");
        l1 += a;
        l2 += b;
      }
      float m2, r2;
      asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];" : "=f"(m2), "=f"(r2) : "r"(base + Sm::kMergeRow + n * 8) : "memory");
      const float mm = fmaxf(m[ri], m2);
      // Both -inf (nothing visible yet, or NaN logits only): both factors 1,
      // so 0 stays 0 and NaN sums stay NaN.
      const float a1 = mm == -INFINITY ? 1.f : fast_exp2(m[ri] - mm);
      const float a2 = mm == -INFINITY ? 1.f : fast_exp2(m2 - mm);
      const float l = l1 * a1 + l2 * a2;
      const float f = l == 0.f ? 0.f : 1.f / l;  // NaN l: NaN row
      c1[ri] = r_scale[ri] * a1 * f;
      c2[ri] = r2 * a2 * f;
      lse[ri] = l == 0.f ? -INFINITY : (mm + log2f(l)) * 0.69314718055994531f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int h2 = 0; h2 < 2; ++h2) {
        float b[4];
        asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];"
                     : "=f"(b[0]), "=f"(b[1]), "=f"(b[2]), "=f"(b[3])
                     : "r"(base + Sm::kMerge + ((2 * i + h2) * 128 + tid) * 16)
                     : "memory");
#pragma unroll
        for (int y = 0; y < 4; ++y) {
          const int x = 4 * h2 + y, ri = 2 * (x >> 2) + (x & 1);
          o[i][x] = o[i][x] * c1[ri] + b[y] * c2[ri];
        }
      }
    named_sync(kBarRMergeFree, kConsumerThreads);
#pragma unroll
    for (int ri = 0; ri < 4; ++ri) {
      const int32_t n = 8 * (ri >> 1) + 2 * int32_t(quad) + (ri & 1);
      if (n >= v.rows) continue;
      const int x0 = 4 * (ri >> 1) + (ri & 1);  // element 4j + 2h + e: h = 0, 1 are dims 2g, 2g + 1
      if (v.partial_row < 0) {
        uint16_t* dst = p.out + (v.q_row0 + n) * int64_t(MLA_DIM_V) + 16 * warp + 2 * g;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const uint32_t pair = uint32_t(to_bf16_bits(o[i][x0])) | (uint32_t(to_bf16_bits(o[i][x0 + 2])) << 16);
          *reinterpret_cast<uint32_t*>(dst + 64 * i) = pair;
        }
      } else {
        float* dst = p.partial_out + (int64_t(v.partial_row) + v.row0 + n) * int64_t(MLA_DIM_V) + 16 * warp + 2 * g;
#pragma unroll
        for (int i = 0; i < 8; ++i) *reinterpret_cast<float2*>(dst + 64 * i) = make_float2(o[i][x0], o[i][x0 + 2]);
      }
      if (warp == 0 && g == 0) {
        if (v.partial_row < 0)
          p.lse[v.q_row0 + n] = lse[ri];
        else
          p.partial_lse[int64_t(v.partial_row) + v.row0 + n] = lse[ri];
      }
    }
  }
}

}  // namespace mla::cuda_impl::sm90
