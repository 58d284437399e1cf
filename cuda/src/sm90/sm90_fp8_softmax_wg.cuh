// sm90_fp8_softmax_wg.cuh - warpgroup 1 of the fp8-KV kernel: S = Q.K^T,
// per-token scales, masks, online softmax, O[:, 0:256].
//
// Per request: wait for the Q tile, convert it to FP16 in place with a power
// of two per row (sm90_fp8_tile.cuh), note that exponent per row (a fp8 Q
// row with a NaN code gets a NaN logit factor).
// Per KV tile (every hand-off between the consumer warpgroups is a
// barrier.sync on both sides, met in the same order by both: TileFree (t > 0),
// VReady, PReady; then ItemEnd per item):
//   P.V of the previous tile done -> TileFree: both warpgroups' P.V of the
//      previous tile are done (WG 2 may overwrite the FP16 content and
//      sigma_k copy, this WG the P buffer and the rescale factors)
//   -> wait tile and WG 2's FP16 copy of its content (VReady, sigma_k beside it)
//   -> S: 32 HGMMA m64n64k16 (FP16) over the content against the FP16 copy + 4
//      (BF16) over the rope straight from the FP8 tile, one fp32 accumulator
//   -> release the stage (nothing else of it is read here)
//   -> logit = S * (sigma_q * scale * log2 e * 2^e_row) per row * sigma_k per
//      key, mask, online softmax
//   -> P' = P * sigma_k / R_row (V = sigma_k * content; R_row keeps P' <= 1),
//      rounded to FP16; rescale O; hand P' and the rescale factors to WG 2 (PReady)
//   -> 4 HGMMA m64n256k16 (FP16), P' from registers, V from the FP16 copy (left in flight).
// (Up to 50157da VReady / PReady were barrier.arrive on the writer's side and
// VFree / PFree on the reader's: racecheck reported 10 hazards on the H200
// with the route on, where the BF16 kernel, sync on both sides, is clean; its
// history (201f0ef) has racecheck reporting a hand-off with an arrive on one
// side. Not yet run on a GPU in this form.)
// (The first version ran an fp8 Q's content on the FP8 tensor cores, QGMMA
// k32 into one accumulator, and P.V in BF16: the H200 failed 11 of 26 suite
// cases, worst 6.75x the tolerance; see perf_notes.md, "Helper, third
// session".)
#pragma once

#include <cstdint>
#include <type_traits>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_epilogue.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_items.cuh"
#include "sm90_softmax_wg.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"
#include "sm90_fp8_tile.cuh"

namespace mla::cuda_impl::sm90 {

// Per-key factors of the columns 8j + 2 quad + {0, 1} (the thread's pair in
// 8-key block j) from 64 floats in shared memory at `col`. Volatile, so each
// use loads again instead of holding 16 more registers across the softmax
// (the consumers run at the edge of their 216).
__device__ __forceinline__ float2 col_pair(uint32_t col, int j, RowPair rp) {
  float2 v;
  asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];" : "=f"(v.x), "=f"(v.y) : "r"(col + 4u * (8u * j + 2u * rp.quad)));
  return v;
}

// softmax_tile (sm90_softmax_wg.cuh) with per-row and per-column logit
// factors from shared memory: logit (log2 domain) = s * row[r] * col[c],
// row = sigma_q * scale * log2(e) * 2^e_row (row_factors), col = sigma_k (NaN
// for a key with a NaN code: its conversion made it finite).
// Then folds the same per-key factor into the probabilities for P.V (V =
// sigma_k * content); the row sums keep the unfolded ones. A probability of
// exactly 0 (masked key) stays 0 whatever its factor: 0 * NaN must not reach P.V.
// FP16 P: the folded weights are divided by R (per row, `r_scale`):
// R = max(R_old * alpha, largest |folded weight| of the tile, 2^-100), so
// every |P'| <= 1 (no FP16 overflow whatever sigma_k) and the row's largest weights
// keep FP16's 11 bits. O (both halves) is rescaled by R_old * alpha / R
// (exactly 1 when R did not move), returned in `rescale`; the output is O * R * 2^8 / sum (V = code * 2^-8).
// softmax_tile_scaled_by is the body, for any source of the per-key
// factors: col_of(j) returns those of the thread's pair in 8-key block j;
// kApproxRcp takes 1 / R by rcp.approx (R only has to be the same for P' and
// O's rescale, which both use this value; the register-V kernel) instead of
// the IEEE reciprocal.
// kLazyLog2 > 0 (the register-V kernels): R moves only when the tile's
// largest |weight| exceeds R_old * alpha * 2^kLazyLog2, so |P'| <= 2^kLazyLog2
// (FP16's range is 2^15; its relative precision does not depend on the
// magnitude) and O's rescale factor is exactly 1 on most tiles, where
// R = max(...) moved it whenever a tile's largest weight set a new high.
template <bool kApproxRcp, int kLazyLog2 = 0, class ColOf>
__device__ __forceinline__ void softmax_tile_scaled_by(float (&s)[32], SoftmaxRows& st, int32_t k0, uint32_t row,
                                                       ColOf col_of, RowPair rp, float (&r_scale)[2],
                                                       float (&rescale)[2]) {
  float row_f[2];
  asm volatile("ld.shared.f32 %0, [%1];" : "=f"(row_f[0]) : "r"(row + 4u * rp.r0));
  asm volatile("ld.shared.f32 %0, [%1];" : "=f"(row_f[1]) : "r"(row + 4u * (rp.r0 + 8)));
  int32_t lo[2], hi[2];
  bool all_visible = true;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    lo[h] = st.lo[h] - k0 - int32_t(2 * rp.quad);
    hi[h] = st.hi[h] - k0 - int32_t(2 * rp.quad);
    all_visible = all_visible && st.lo[h] <= k0 && st.hi[h] >= k0 + kKeys;
  }
  float mx[2] = {-INFINITY, -INFINITY};
  // The loop in two copies (`mask`), so that a tile every row sees whole (all
  // but the edges of a request) runs no per-key mask (~100 instructions a tile).
  const auto scale_and_max = [&](auto mask) {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
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
    scale_and_max(std::false_type{});
  else
    scale_and_max(std::true_type{});
  float shift[2], alpha[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
    const float m_new = fmaxf(st.m[h], mx[h]);
    shift[h] = m_new == -INFINITY ? 0.f : m_new;  // a row that saw nothing yet: keep everything 0
    alpha[h] = fast_exp2(st.m[h] - shift[h]);     // 2^-inf = 0 on the first visible tile
    st.m[h] = m_new;
  }
  float part[2] = {0.f, 0.f}, wmax[2] = {0.f, 0.f};
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float2 f = col_of(j);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = 4 * j + e, h = e >> 1;
      const float p = fast_exp2(s[i] - shift[h]);
      part[h] += p;
      s[i] = p != 0.f ? p * ((e & 1) ? f.y : f.x) : 0.f;
      wmax[h] = fmaxf(wmax[h], fabsf(s[i]));  // |.|: a negative sigma_k; a NaN weight stays NaN in P'
    }
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    st.sum[h] = st.sum[h] * alpha[h] + part[h];
    wmax[h] = fmaxf(wmax[h], __shfl_xor_sync(0xffffffffu, wmax[h], 1));
    wmax[h] = fmaxf(wmax[h], __shfl_xor_sync(0xffffffffu, wmax[h], 2));
    const float kept = r_scale[h] * alpha[h];
    static_assert(kLazyLog2 >= 0 && kLazyLog2 <= 12, "|P'| <= 2^kLazyLog2 must stay well inside FP16");
    // NaN wmax: the comparison is false and R keeps its value (as fmaxf did).
    const float r_new = kLazyLog2 == 0 ? fmaxf(fmaxf(kept, wmax[h]), 0x1p-100f)
                                       : fmaxf(wmax[h] > kept * float(1 << kLazyLog2) ? wmax[h] : kept, 0x1p-100f);
    float inv;
    if constexpr (kApproxRcp)
      asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(inv) : "f"(r_new));
    else
      inv = __frcp_rn(r_new);
    rescale[h] = r_new == kept ? 1.f : kept * inv;  // exactly 1 when nothing moved (fp8v_rescale skips it)
    r_scale[h] = r_new;
    wmax[h] = inv;
  }
#pragma unroll
  for (int i = 0; i < 32; ++i) s[i] *= wmax[(i >> 1) & 1];
}

// The FP16-copy kernel's form: the factors loaded from shared memory at
// `col` where they are used (volatile, twice: at the edge of its registers).
__device__ __forceinline__ void softmax_tile_scaled(float (&s)[32], SoftmaxRows& st, int32_t k0, uint32_t row,
                                                    uint32_t col, RowPair rp, float (&r_scale)[2],
                                                    float (&rescale)[2]) {
  softmax_tile_scaled_by<false>(s, st, k0, row, [&](int j) { return col_pair(col, j, rp); }, rp, r_scale, rescale);
}

// P' for P.V as FP16 pairs in the A-fragment order of m64n256k16 (that of
// pack_p in sm90_softmax_wg.cuh).
__device__ __forceinline__ void pack_p_f16(const float (&s)[32], uint32_t (&pa)[4][4]) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
#pragma unroll
    for (int r = 0; r < 4; ++r)
      asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(pa[kk][r]) : "f"(s[8 * kk + 2 * r + 1]), "f"(s[8 * kk + 2 * r]));
}



// Writes sigma_q * scale * log2(e) * 2^e of the thread's two rows into the
// 64 row factors at `row` (0 for padding rows, which are fully masked anyway;
// NaN where e = kQExpNaN), e from the bytes at `q_exp` (convert_q).
// The lanes of a quad share their rows: lane quad 0 writes, the warp syncs.
// In shared memory rather than registers: two more live registers across the
// tile loop made ptxas spill in this warpgroup.
template <bool kQFp8>
__device__ __forceinline__ void row_factors(const DecodeParams& p, const ItemView& v, RowPair rp, uint32_t row,
                                            uint32_t q_exp) {
  if (rp.quad == 0) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int32_t r = int32_t(rp.r0) + 8 * h;
      float f = 0.f;
      if (r < v.rows) {
        float sq = 1.f;
        if constexpr (kQFp8) sq = __ldg(p.q_scales + (v.q_row0 + r) / p.num_heads);
        int32_t e;
        asm volatile("ld.shared.s8 %0, [%1];" : "=r"(e) : "r"(q_exp + uint32_t(r)) : "memory");
        const float pow2 = e == kQExpNaN ? __int_as_float(0x7fc00000) : __int_as_float((127 + e) << 23);
        f = sq * p.scale_log2 * pow2;
      }
      asm volatile("st.shared.f32 [%0], %1;" ::"r"(row + 4u * uint32_t(r)), "f"(f) : "memory");
    }
  }
  __syncwarp();
}

// The in-place conversion of a freshly loaded Q tile to FP16 (the whole
// warpgroup) and the exponent of each row (byte r at q_exp, written by the
// lane of half 0). Warp w converts rows 16w..16w+15, the rows its lanes
// hold in S (thread_rows), so a __syncwarp publishes the exponents to
// row_factors; the first S waits at VReady (both consumer warpgroups),
// which follows every thread's conversion and proxy fence.
template <bool kQFp8>
__device__ __forceinline__ void convert_q(uint32_t q, uint32_t q_exp, uint32_t tid) {
  int32_t e;
  if constexpr (kQFp8)
    e = convert_q_fp8_in_place(q, tid);
  else
    e = convert_q_bf16_in_place(q, tid);
  if (((tid >> 3) & 1) == 0)
    asm volatile("st.shared.s8 [%0], %1;" ::"r"(q_exp + conversion_row(tid)), "r"(e) : "memory");
  fence_proxy_async();  // the FP16 Q is read by wgmma (async proxy), after VReady
  __syncwarp();
}

template <bool kQFp8>
__device__ __forceinline__ void fp8_softmax_wg_loop(const DecodeParams& p, uint32_t base, float* scale_smem,
                                                    float* inv_sum_smem, int32_t m_tile) {
  using Sm = Fp8Smem<kQFp8>;
  const uint32_t tid = threadIdx.x - kWarpgroupThreads;
  const RowPair rp = thread_rows(tid);
  const uint64_t q_desc = make_sw128_desc(base + Sm::kQ, 16, 1024);
  const uint64_t vk_desc = make_sw128_desc(base + Sm::kV, 16, 1024);             // FP16 content, K-major
  const uint64_t v_desc = make_sw128_desc(base + Sm::kV, kColBlockBytes, 1024);  // the same, as V (MN-major)

  float o[128];
  float s[32];
  uint32_t pa[4][4];
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
      fence_proxy_async();
      convert_q<kQFp8>(base + Sm::kQ, base + Sm::kQExp, tid);
      ++q_loads;
      loaded_request = v.request;
    }
    row_factors<kQFp8>(p, v, rp, base + Sm::kRowF, base + Sm::kQExp);
#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] = 0.f;

    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kStages;
      const uint32_t tile = base + Sm::kKV + stage * kFp8TileBytes;
      if (t > 0) {
        // Both warpgroups' P.V of the previous tile are done: WG 2 may
        // convert the next tile over the FP16 content (and rewrite sigma_k
        // beside it), this WG may rewrite P and the rescale factors. At an
        // item's first tile ItemEnd did this. Uniform across the warpgroup
        // (the waits are .aligned).
        wgmma_wait<0>();
        pin_regs(o);
        named_sync(kBarTileFree, kConsumerThreads);
      }
      prof.mark(0);
      mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kStages) & 1);
      fence_proxy_async();
      prof.mark(1);
      // Key rows 0..31 of the FP16 copy (kFp8SplitConversion; WG 2 rows
      // 32..63): the previous tile's P.V of both warpgroups is done (TileFree
      // or ItemEnd), and o, the only large live value here, stays put.
      if constexpr (kFp8SplitConversion && !(kFp8DevVariant & 1))
        convert_tile_share(tile, base + Sm::kV, base + Sm::kSigmaK + stage * 256,
                           reinterpret_cast<float*>(__cvta_shared_to_generic(base + Sm::kSigmaS)), tid, 0);
      // S reads WG 2's FP16 copy of the content.
      named_sync(kBarVReady, kConsumerThreads);
      prof.mark(2);

      const uint64_t k_desc = make_sw128_desc(tile, 16, kFp8KvGroupStride);  // the FP8 tile's rope
      if constexpr ((kFp8DevVariant & 4) != 0) {
#pragma unroll
        for (int i = 0; i < 32; ++i) s[i] = 0.f;  // measurement build: no S
      }
      wgmma_fence();
#pragma unroll
      for (uint32_t kk = 0; kk < ((kFp8DevVariant & 4) ? 0u : 32u); ++kk) {
        const uint32_t off = (kk >> 2) * kColBlockBytes + (kk & 3) * 32;
        wgmma_m64n64k16_f16_ss(s, desc_advance(q_desc, off), desc_advance(vk_desc, off), kk > 0 ? 1u : 0u);
      }
      // The rope MMAs (BF16 inputs) add into the same accumulator as the
      // FP16 ones: a fence between the two kinds, as wgmma orders
      // accumulator chains of one instruction form only.
      wgmma_fence();
#pragma unroll
      for (uint32_t kk = 0; kk < ((kFp8DevVariant & 4) ? 0u : 4u); ++kk)
        wgmma_m64n64k16_ss(s, desc_advance(q_desc, 8 * kColBlockBytes + kk * 32),
                           desc_advance(k_desc, fp8_kv_step_offset(4 * kFp8RopeBlock + kk)), 1u);
      wgmma_commit();
      wgmma_wait<0>();
      pin_regs(s);
      pin_regs(o);
      // S was this warpgroup's last read of the stage.
      mbar_arrive(base + Sm::kBarEmpty + 8 * stage);  // every thread (kFp8EmptyArrivals)
      // Every thread (kFp8QEmptyArrivals): all of them read and rewrote Q in place.
      if (t == v.n_tiles - 1 && next_item_reloads_q(p, index, end, m_tile, loaded_request))
        mbar_arrive(base + Sm::kBarQEmpty);
      prof.mark(3);

      // The per-key factors come from WG 2's copy beside the FP16 content
      // (the stage may be refilled from here on).
      float alpha[2];  // O's rescale factor (R_old * 2^(m_old - m) / R)
      if constexpr ((kFp8DevVariant & 2) != 0) {
        alpha[0] = alpha[1] = 1.f;  // measurement build: no softmax
      } else {
        softmax_tile_scaled(s, st, v.tile_base + t * kKeys, base + Sm::kRowF, base + Sm::kSigmaS, rp, r_scale,
                            alpha);
      }
      pack_p_f16(s, pa);
#pragma unroll
      for (int i = 0; i < 128; ++i)
        if constexpr (!(kFp8DevVariant & 2)) o[i] *= alpha[(i >> 1) & 1];
      prof.mark(4);

      // WG 2 read the previous P and rescale factors before TileFree (or
      // the previous ItemEnd) and reads these after PReady, where it is
      // already waiting (it passed VReady before this WG's S).
      store_p(base + Sm::kP, pa, rp);
      if (rp.quad == 0) {
        scale_smem[rp.r0] = alpha[0];
        scale_smem[rp.r0 + 8] = alpha[1];
      }
      fence_proxy_async();  // P is read by WG 2's wgmma (async proxy)
      named_sync(kBarPReady, kConsumerThreads);
      prof.mark(5);

      pin_regs(o);
      wgmma_fence();
#pragma unroll
      for (uint32_t kk = 0; kk < 4; ++kk)
        wgmma_m64n256k16_f16_rs_vt(o, pa[kk], desc_advance(v_desc, kk * 2048), 1u);
      wgmma_commit();
      prof.mark(6);
      prof.tile_done();
    }
    // The item's last P.V is done before ItemEnd, which is then the next
    // item's first TileFree for WG 2's conversion.
    wgmma_wait<0>();
    pin_regs(o);

    // Finish the rows: the quad holds the 64 columns of a row between them.
    float inv_sum[2], lse[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = st.sum[h];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      // O * R * 2^8 / l (V = code * 2^-8); NaN l: NaN row (see sm90_softmax_wg.cuh)
      inv_sum[h] = l == 0.f ? 0.f : r_scale[h] * 256.f / l;
      lse[h] = l == 0.f ? -INFINITY : (st.m[h] + log2f(l)) * 0.69314718055994531f;
    }
    float* inv_buf = inv_sum_smem + 64 * (items_done & 1);
    if (rp.quad == 0) {
      inv_buf[rp.r0] = inv_sum[0];
      inv_buf[rp.r0 + 8] = inv_sum[1];
    }
    named_sync(kBarItemEnd, kConsumerThreads);
    store_output_half(p, v, rp, 0, o, inv_sum);
    store_lse(p, v, rp, lse);
    ++items_done;
  }
  prof.report();
}

}  // namespace mla::cuda_impl::sm90
