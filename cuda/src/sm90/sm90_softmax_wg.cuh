// sm90_softmax_wg.cuh - warpgroup 1 of the sm_90a kernel: S = Q.K^T, masks,
// online softmax, and the first half of O (value columns 0..255).
//
// Per KV tile:
//   wait tile -> 36 wgmma m64n64k16 (Q, K from shared memory) -> wait
//   -> release the previous tile (its P.V has finished too)
//   -> mask + online softmax in registers (exp2, scale_log2)
//   -> rescale O, wait until WG 2 is done with the P buffer, write P and the
//      rescale factors there, signal WG 2
//   -> 4 wgmma m64n256k16 with P from registers (left in flight: the next
//      tile's S wait covers it).
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "../dev_timeline.cuh"
#include "../nonfinite.cuh"
#include "sm90_config.cuh"
#include "sm90_epilogue.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"

namespace mla::cuda_impl::sm90 {

// Per-row state of the online softmax, in the exp2 domain: m is the running
// max of logit * scale * log2(e), sum the running sum of 2^(x - m) (this
// thread's 16 columns only; the quad is reduced at the end).
struct SoftmaxRows {
  float m[2];
  float sum[2];
  int32_t lo[2];  // visible keys of each row within the item: [lo, hi)
  int32_t hi[2];
};

__device__ __forceinline__ SoftmaxRows softmax_rows_init(const DecodeParams& p, const ItemView& v, RowPair rp) {
  SoftmaxRows s;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    s.m[h] = -INFINITY;
    s.sum[h] = 0.f;
    const int32_t r = int32_t(rp.r0) + 8 * h;
    s.lo[h] = 0;
    s.hi[h] = 0;  // padding rows see nothing
    if (r < v.rows) {
      const KeyRange k = token_keys(p, v.kv_len, v.q_len, (v.row0 + r) / p.num_heads);
      s.lo[h] = int32_t(k.begin > v.item_begin ? k.begin : v.item_begin);
      s.hi[h] = int32_t(k.end < v.item_end ? k.end : v.item_end);
    }
  }
  return s;
}

// Turns the raw scores of one tile (keys k0..k0+63) into probabilities
// relative to the updated row max; returns the factor the old O and sum are
// scaled by. Masked keys become exactly 0.
__device__ __forceinline__ void softmax_tile(float (&s)[32], SoftmaxRows& st, int32_t k0, float scale_log2,
                                             RowPair rp, float (&alpha)[2]) {
  // Key of element e of block j: k0 + 8j + 2 quad + (e & 1).
  int32_t lo[2], hi[2];
  bool all_visible = true;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    lo[h] = st.lo[h] - k0 - int32_t(2 * rp.quad);
    hi[h] = st.hi[h] - k0 - int32_t(2 * rp.quad);
    all_visible = all_visible && st.lo[h] <= k0 && st.hi[h] >= k0 + kKeys;
  }
  float mx[2] = {-INFINITY, -INFINITY};
  if (all_visible) {
#pragma unroll
    for (int i = 0; i < 32; ++i) {
      s[i] *= scale_log2;
      mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], s[i]);
    }
  } else {
#pragma unroll
    for (int i = 0; i < 32; ++i) {
      const int h = (i >> 1) & 1;
      const int32_t c = 8 * (i >> 2) + (i & 1);
      s[i] = (c >= lo[h] && c < hi[h]) ? s[i] * scale_log2 : -INFINITY;
      mx[h] = fmaxf(mx[h], s[i]);
    }
  }
  float shift[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
    const float m_new = fmaxf(st.m[h], mx[h]);
    shift[h] = m_new == -INFINITY ? 0.f : m_new;  // a row that saw nothing yet: keep everything 0
    alpha[h] = fast_exp2(st.m[h] - shift[h]);     // 2^-inf = 0 on the first visible tile
    st.m[h] = m_new;
  }
  float part[2] = {0.f, 0.f};
#pragma unroll
  for (int i = 0; i < 32; ++i) {
    const int h = (i >> 1) & 1;
    s[i] = fast_exp2(s[i] - shift[h]);
    part[h] += s[i];
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) st.sum[h] = st.sum[h] * alpha[h] + part[h];
}

// P as the A operand of wgmma m64nNk16 from registers: k-step kk covers keys
// 16kk..16kk+15 = S blocks j = 2kk, 2kk+1; the fragment is
// {row r0 keys 2q..2q+1, row r0+8 same, row r0 keys 8+2q.., row r0+8 same},
// which is exactly the S accumulator order, pairwise packed.
__device__ __forceinline__ void pack_p(const float (&s)[32], uint32_t (&pa)[4][4]) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
#pragma unroll
    for (int r = 0; r < 4; ++r) pa[kk][r] = pack_bf16x2(s[8 * kk + 2 * r], s[8 * kk + 2 * r + 1]);
}

// P into shared memory for WG 2 (K-major, 128-byte swizzle: row r, keys
// 8j..8j+7 in chunk j ^ (r % 8)); the 32 lanes of a store hit 32 banks.
__device__ __forceinline__ void store_p(uint32_t sp, const uint32_t (&pa)[4][4], RowPair rp) {
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const uint32_t row = rp.r0 + 8 * h;
      const uint32_t addr = sp + row * 128 + ((uint32_t(j) ^ (row & 7)) << 4) + rp.quad * 4;
      asm volatile("st.shared.u32 [%0], %1;" ::"r"(addr), "r"(pa[j >> 1][(j & 1) * 2 + h]) : "memory");
    }
}

// Thread t of the softmax WG scans half of key t / 2's V row in the tile:
// column blocks 4 (t & 1) .. +3, 128 bytes each (the swizzle only permutes
// chunks within them), and zeroes its non-finite values; true when it found one.
__device__ __forceinline__ bool zero_nonfinite_v_half_row(uint32_t tile, uint32_t tid) {
  const uint32_t key = tid >> 1, block0 = 4 * (tid & 1);
  bool found = false;
#pragma unroll 1
  for (uint32_t b = block0; b < block0 + 4; ++b)
#pragma unroll 1
    for (uint32_t c = 0; c < 8; ++c) {
      const uint32_t addr = tile + b * kKvBlockStride + (key >> 3) * kKvGroupStride + (key & 7) * 128 + c * 16;
      uint4 v;
      asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
                   : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                   : "r"(addr)
                   : "memory");
      if (zero_nonfinite_bf16x8(v)) {
        found = true;
        asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "r"(v.x), "r"(v.y), "r"(v.z),
                     "r"(v.w)
                     : "memory");
      }
    }
  return found;
}

// The rare path of nonfinite.cuh for one KV tile, run by the softmax WG
// after the tile's PFree (every S read of the tile has retired by then) when
// the tile's flag is up; the helper WG, which read the same flag, meets it at
// kBarNanKeys. The V rows' non-finite values become 0, and a row that sees a
// key which had one gets a NaN softmax sum (the reference's 0 * Inf = NaN even
// where the key's weight is 0).
__device__ __forceinline__ void clean_nonfinite_keys(SoftmaxRows& st, uint32_t tile, uint32_t nan_keys,
                                                     uint32_t tid, RowPair rp, int32_t k0) {
  bool found = zero_nonfinite_v_half_row(tile, tid);
  // Warp w covers keys 16w..16w+15; after the pair exchange lane 2i (and
  // 2i + 1) holds key 16w + i.
  // (The shuffle must run in every lane: `found || __shfl_xor_sync(...)`
  // skipped it in lanes that had found one, and the warp hung.)
  const uint32_t partner = __shfl_xor_sync(0xffffffffu, uint32_t(found), 1);
  found = found || partner != 0;
  const uint32_t bits = __ballot_sync(0xffffffffu, found);
  if ((tid & 31) == 0) asm volatile("st.shared.u32 [%0], %1;" ::"r"(nan_keys + 4 * (tid >> 5)), "r"(bits) : "memory");
  fence_proxy_async();  // the zeros are read by both WGs' P.V wgmma (async proxy)
  named_sync(kBarNanKeys, kConsumerThreads);
  uint32_t words[4];
#pragma unroll
  for (int w = 0; w < 4; ++w) asm volatile("ld.shared.u32 %0, [%1];" : "=r"(words[w]) : "r"(nan_keys + 4 * w) : "memory");
  // Element i of the accumulator is key 8 (i >> 2) + 2 quad + (i & 1) of the tile.
#pragma unroll
  for (int i = 0; i < 32; ++i) {
    const int h = (i >> 1) & 1;
    const uint32_t k = 8 * (i >> 2) + 2 * rp.quad + (i & 1);
    const int32_t key = k0 + int32_t(k);
    if (((words[k >> 4] >> (2 * (k & 15))) & 1u) && key >= st.lo[h] && key < st.hi[h])
      st.sum[h] = __int_as_float(0x7FC00000);
  }
}

template <int kVariant>
__device__ __forceinline__ void softmax_wg_loop(const DecodeParams& p, uint32_t base, float* scale_smem,
                                                float* inv_sum_smem, int32_t m_tile, uint32_t parts) {
  const uint32_t tid = threadIdx.x - kWarpgroupThreads;
  const uint32_t lane = tid & 31;
  const RowPair rp = thread_rows(tid);
  const uint64_t q_desc = make_sw128_desc(base + smem::kQ, 16, 1024);

  float o[128];
  float s[32];
  uint32_t pa[4][4];
  uint32_t tile_count = 0, q_loads = 0, items_done = 0;
  int32_t loaded_request = -1;

  const int32_t end = p.part_begin[blockIdx.x + 1];
  for (int32_t index = p.part_begin[blockIdx.x]; index < end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0) continue;
    SoftmaxRows st = softmax_rows_init(p, v, rp);
#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] = 0.f;

    if (v.n_tiles > 0 && v.request != loaded_request) {
      mbar_wait(base + smem::kBarQFull, q_loads & 1);
      fence_proxy_async();
      if (tid == 0 && q_loads == 0) MLA_DEV_STAMP_DECODE(kFirstQLanded);
      ++q_loads;
      loaded_request = v.request;
    }

    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kStages;
      const uint32_t tile = base + smem::kKV + stage * kTileBytes;
      const uint32_t full0 = full_bar(base, stage, 0), full_parity = (tile_count / kStages) & 1;
      const uint32_t prev_empty = base + smem::kBarEmpty + 8 * ((tile_count + kStages - 1) % kStages);
      if constexpr (kVariant == kVariantNoCompute) {  // dev timing only: consume the tile untouched
        for (uint32_t part = 0; part < parts; ++part) mbar_wait(full0 + 8 * part, full_parity);
        if (lane == 0) mbar_arrive(base + smem::kBarEmpty + 8 * stage);
        if (t == v.n_tiles - 1 && lane == 0 && next_item_reloads_q(p, index, end, m_tile, loaded_request))
          mbar_arrive(base + smem::kBarQEmpty);
        continue;
      }
      // The previous tile's stage goes back to the producer as soon as its
      // P.V has finished, not after this tile's S (which needs this tile to
      // have landed): otherwise only one tile would ever be in flight. The
      // decision must be the same in every thread of the warpgroup (the
      // waits are .aligned), so it cannot depend on whether the tile is here.
      if (t > 0) {
        wgmma_wait<0>();
        pin_regs(o);
        if (lane == 0) mbar_arrive(prev_empty);
      }
      mbar_wait(full0, full_parity);
      fence_proxy_async();
      if (tid == 0) {
        if (tile_count == 0) MLA_DEV_STAMP_DECODE(kFirstLanded);
        MLA_DEV_STAMP_DECODE(kLastLanded);
      }

      // S block by block as the parts land (config: kFullParts): the k-steps
      // of the first part run while the later parts are still in flight.
      const uint64_t k_desc = make_sw128_desc(tile, 16, kKvGroupStride);
      wgmma_fence();
#pragma unroll
      for (uint32_t kk = 0; kk < 36; ++kk) {
        const uint32_t cb = kk >> 2;
        if ((kk & 3) == 0 && cb > 0 && block_part(cb) != block_part(cb - 1)) {
          if (parts > 1) {
            mbar_wait(full0 + 8 * block_part(cb), full_parity);
            fence_proxy_async();
          }
          wgmma_fence();  // (ptxas would insert it after the wait loop anyway: C7519)
        }
        const uint32_t k_step = (kk & 3) * 32;
        wgmma_m64n64k16_ss(s, desc_advance(q_desc, cb * kColBlockBytes + k_step),
                           desc_advance(k_desc, cb * kKvBlockStride + k_step), kk > 0 ? 1u : 0u);
      }
      wgmma_commit();
      wgmma_wait<0>();
      pin_regs(s);
      pin_regs(o);
      if (t == v.n_tiles - 1 && lane == 0 && next_item_reloads_q(p, index, end, m_tile, loaded_request))
        mbar_arrive(base + smem::kBarQEmpty);

      // nonfinite.cuh: one row of each thread (h = 0) shows every key with a
      // non-finite V (such a key's raw logit is NaN or +-Inf in every row).
      // A thread that sees one raises the tile's flag; both WGs read it after
      // PFree below. No barrier of the softmax WG alone here: racecheck
      // reported the P hand-off as a hazard whenever one preceded it (a
      // barrier.red vote, or a vote through shared memory and a 128-thread
      // barrier; H200, third session).
      const uint32_t nan_flag = base + smem::kNanFlag + 4 * (tile_count & 1u);
#if MLA_SM90_NONFINITE_CHECK
      float probe = 0.f;
#pragma unroll
      for (int i = 0; i < 32; i += 4) probe += s[i] + s[i + 1];
      if (!is_finite_f32(probe)) asm volatile("st.shared.u32 [%0], %1;" ::"r"(nan_flag), "r"(1u) : "memory");
#endif

      float alpha[2];
      softmax_tile(s, st, v.tile_base + t * kKeys, p.scale_log2, rp, alpha);
      pack_p(s, pa);
#pragma unroll
      for (int i = 0; i < 128; ++i) o[i] *= alpha[(i >> 1) & 1];

      // The P handoff uses full barriers on both sides (bar.sync, never
      // bar.arrive): WG 2 read the previous tile's P and rescale factors
      // before its PFree, and reads this tile's after PReady. (With bar.arrive
      // on one side compute-sanitizer's racecheck reported the write-after-read
      // on the rescale factors as a hazard, since it does not order through
      // arrive -> sync; both cost the same here, as the other side waits
      // for the same event anyway.)
      // PFree for every tile: WG 2 has finished the previous tile's P.V (at an
      // item's first tile it meets this barrier once at the item's start).
      named_sync(kBarPFree, kConsumerThreads);
#if MLA_SM90_NONFINITE_CHECK
      uint32_t raised;
      asm volatile("ld.shared.u32 %0, [%1];" : "=r"(raised) : "r"(nan_flag) : "memory");
      if (raised) clean_nonfinite_keys(st, tile, base + smem::kNanKeys, tid, rp, v.tile_base + t * kKeys);
#endif
      store_p(base + smem::kP, pa, rp);
      if (rp.quad == 0) {
        scale_smem[rp.r0] = alpha[0];
        scale_smem[rp.r0 + 8] = alpha[1];
      }
      fence_proxy_async();  // P is read by WG 2's wgmma (async proxy)
      named_sync(kBarPReady, kConsumerThreads);
#if MLA_SM90_NONFINITE_CHECK
      // Both WGs read this tile's flag before PReady; its next writers (tile
      // count + 2) come after the next PReady. Two flags, so that tile + 1's
      // writers never meet this reset.
      if (tid == 0) asm volatile("st.shared.u32 [%0], %1;" ::"r"(nan_flag), "r"(0u) : "memory");
#endif

      const uint64_t v_desc = make_sw128_desc(tile, kKvBlockStride, kKvGroupStride);
      pin_regs(o);
      wgmma_fence();
#pragma unroll
      for (uint32_t kk = 0; kk < 4; ++kk)  // 16 keys = two 8-row groups a k-step
        wgmma_m64n256k16_rs_vt(o, pa[kk], desc_advance(v_desc, kk * 2 * kKvGroupStride), 1u);
      wgmma_commit();
    }
    // Unconditional, so that on every path the compiler sees O retired
    // before it is read (a wait with nothing in flight costs nothing).
    wgmma_wait<0>();
    pin_regs(o);
    if (kVariant != kVariantNoCompute && v.n_tiles > 0 && lane == 0)
      mbar_arrive(base + smem::kBarEmpty + 8 * ((tile_count - 1) % kStages));
    // WG 2's PFree after the item's last P.V.
    if (kVariant != kVariantNoCompute && v.n_tiles > 0) named_sync(kBarPFree, kConsumerThreads);

    if (tid == 0) MLA_DEV_STAMP_DECODE(kMathDone);
    // Finish the rows: the quad holds the 64 columns of a row between them.
    float inv_sum[2], lse[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = st.sum[h];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      // l = 0: the row saw no key (0, LSE -inf); l NaN: it saw a NaN or an
      // Inf - Inf (NaN throughout, as in the reference).
      inv_sum[h] = l == 0.f ? 0.f : 1.f / l;
      lse[h] = l == 0.f ? -INFINITY : (st.m[h] + log2f(l)) * 0.69314718055994531f;
    }
    float* inv_buf = inv_sum_smem + 64 * (items_done & 1);
    if (rp.quad == 0) {
      inv_buf[rp.r0] = inv_sum[0];
      inv_buf[rp.r0 + 8] = inv_sum[1];
    }
    named_sync(kBarItemEnd, kConsumerThreads);
    if (tid == 0) MLA_DEV_STAMP_DECODE(kItemEndSynced);
    store_output_half(p, v, rp, 0, o, inv_sum);
    store_lse(p, v, rp, lse);
    if (tid == 0) MLA_DEV_STAMP_DECODE(kStored);
    ++items_done;
  }
}

}  // namespace mla::cuda_impl::sm90
