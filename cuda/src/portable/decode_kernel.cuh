// portable/decode_kernel.cuh - the body of the portable decode kernel
// (sm_80 and later; mma.sync BF16 m16n8k16 with fp32 accumulation).
// Included only by the per-format-pair instantiation files.
//
// CTA (part, m) runs M tile m of every work item of its part (see
// decode_params.h). Per item:
//   Q tile (64 rows x 576) -> shared memory, as BF16 (FP8 content decoded
//   exactly; sigma_q kept per row and applied to the fp32 logits).
//   For each tile of TN keys (absolute key index aligned to TN):
//     K tile -> shared memory (BF16; FP8 decoded exactly, sigma_k per key),
//       keys outside the item's visible range zero-filled, never read;
//     S = Q.K^T: warp (rg, cg) computes rows 16rg.. x keys 8cg.. of the tile;
//     logits * scale * log2(e) * sigma_q * sigma_k, masked to -inf;
//     row max over the tile through shared memory (per row group), online
//       softmax with exp2; P * sigma_k rounded to BF16 into shared memory;
//     O[16 rows, 128 cols of cg] += P . V, V = the first 512 columns of the
//       K tile already in shared memory (no second read of the cache).
//   Epilogue: row sums through shared memory; out = O / l as BF16 (round to
//   nearest even) and LSE = (m + log2 l) * ln 2 for a whole-request item,
//   fp32 O / l and LSE into the split-K workspace otherwise. A row without a
//   visible key gets 0 and -inf.
// Every reduction runs in a fixed order: results are bitwise reproducible.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "../config.h"
#include "../decode_params.h"
#include "../fp8_bf16.cuh"
#include "../nonfinite.cuh"
#include "mla/mask.h"
#include "decode_kernel.h"
#include "ptx_sm80.cuh"

namespace mla::cuda_impl::portable {

template <int QF, int KVF, int TN, int STAGES>
struct Traits {
  static_assert(TN % 16 == 0 && TN <= 8 * kPortableWarpsN && kBlockN % TN == 0, "TN: 16 or 32 keys");
  // How K tiles arrive: see portable_smem_layout (config.h).
  static constexpr int kTileN = TN;
  static constexpr int kQFormat = QF;
  static constexpr int kKvFormat = KVF;
  static constexpr PortableSmemLayout kL = portable_smem_layout(KVF, PortableConfig{TN, STAGES});
  static constexpr int kStages = kL.k_stages;        // BF16 K tiles in shared memory
  static constexpr int kRawStages = kL.raw_stages;   // raw FP8 row buffers (0: none)
  static constexpr bool kAsyncKv = kStages > 1;      // BF16 rows: cp.async straight into the K tiles
  static constexpr bool kRawAsyncKv = kRawStages > 0;  // FP8 rows: cp.async raw, decoded in shared memory
  static constexpr int kKvRowBytes = KVF == MLA_FORMAT_BF16 ? MLA_ROW_BYTES_BF16 : MLA_ROW_BYTES_FP8;
  static constexpr int kKvChunks = kKvRowBytes / 16;  // 16-byte chunks per cached row
  static constexpr int kRegChunks = (TN * kKvChunks + kPortableThreads - 1) / kPortableThreads;
  static constexpr int kSGroups = TN / 8;  // column groups that compute S (8 keys each)
  // Unrolling of the Q.K^T loop (18 steps of 32 dims): with FP8 KV (hi / lo
  // P fragments live too) full unrolling hoists fragments and spills (ptxas -v).
  static constexpr int kSUnroll = KVF == MLA_FORMAT_BF16 ? MLA_DIM_QK / 32 : 2;
  static constexpr int kPTiles = kL.p_tiles;  // 2: P = hi + lo (config.h)
  static constexpr int kPPitch = TN * 2 + 16;
  static constexpr int kPTileBytes = 64 * kPPitch;
  static constexpr int kSmemBytes = kL.bytes;
};

// Whether this device pass compiles a configuration: the sm_89 pass holds only
// the small one (sm_89 has 99 KiB of shared memory); the sm_80 pass holds
// both (its code also runs on sm_86 / sm_87), sm_90a both (the small one for tests).
template <int TN>
__host__ __device__ constexpr bool config_in_this_pass() {
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ == 890)
  return TN == kPortableSmall.tile_n;
#else
  return true;
#endif
}

// The item as this CTA sees it: its M tile of the item's request and the keys
// any row of the tile can see within the item.
struct ItemCtx {
  int32_t request;
  int32_t q_len, kv_len;
  int32_t rows;        // rows of the request (q_len * H)
  int32_t row0;        // request row of tile row 0
  int32_t tile_rows;   // valid rows of the tile
  int64_t q_row0;      // global row of tile row 0 in Q / out / lse
  int32_t q_token0;    // global token of request row 0 (for sigma_q)
  int32_t lo, hi;      // keys loaded: [lo, hi); others are zero-filled
  int32_t first_tile;  // absolute key of the first tile (multiple of TN)
  int32_t n_tiles;
  int32_t partial_row; // workspace row of request row 0 of this split; -1: write out / lse
};

__device__ __forceinline__ KeyRange token_range(const DecodeParams& p, const ItemCtx& c, int32_t token) {
  return visible_keys(static_cast<MaskKind>(p.mask), p.window, p.chunk, c.kv_len, c.q_len, token);
}

// Pool slot of cached row `key` of request b (`valid` in: the key is in the
// loaded range). A page id outside the pool is never followed: `valid` turns
// false (slot 0) and the batch status word is flagged. The planner has
// checked the page table already; this guards against a table changed
// between planning and decoding.
__device__ __forceinline__ int64_t kv_slot(const DecodeParams& p, int32_t b, int32_t key, bool& valid) {
  if (!valid) return 0;
  const int32_t page = p.page_table[int64_t(b) * p.max_pages + (key >> p.page_shift)];
  if (uint32_t(page) >= uint32_t(p.num_pages)) {
    valid = false;
    atomicOr(p.status, MLA_STATUS_BAD_PAGE_ID);
    return 0;
  }
  return (int64_t(page) << p.page_shift) + (key & (p.page_size - 1));
}

template <int KVF>
__device__ __forceinline__ const uint8_t* kv_row(const DecodeParams& p, int32_t b, int32_t key, bool& valid) {
  constexpr int64_t kRowBytes = KVF == MLA_FORMAT_BF16 ? MLA_ROW_BYTES_BF16 : MLA_ROW_BYTES_FP8;
  return static_cast<const uint8_t*>(p.kv_pool) + kv_slot(p, b, key, valid) * kRowBytes;
}

__device__ __forceinline__ float kv_scale(const DecodeParams& p, int32_t b, int32_t key) {
  bool valid = true;
  const int64_t slot = kv_slot(p, b, key, valid);
  return valid ? p.kv_scales[slot] : 0.f;
}

// Decodes a 16-byte chunk of an FP8 row (chunk < 32: 16 E4M3 codes of the
// content; else 8 BF16 rope values) into the BF16 row at `dst_row`.
__device__ __forceinline__ void store_fp8_chunk(uint8_t* dst_row, int chunk, uint4 v) {
  if (chunk < MLA_DIM_CONTENT / 16) {
    uint4 a, b;
    e4m3x4_to_bf16x4(v.x, a.x, a.y);
    e4m3x4_to_bf16x4(v.y, a.z, a.w);
    e4m3x4_to_bf16x4(v.z, b.x, b.y);
    e4m3x4_to_bf16x4(v.w, b.z, b.w);
    *reinterpret_cast<uint4*>(dst_row + chunk * 32) = a;
    *reinterpret_cast<uint4*>(dst_row + chunk * 32 + 16) = b;
  } else {
    *reinterpret_cast<uint4*>(dst_row + 2 * MLA_DIM_CONTENT + (chunk - MLA_DIM_CONTENT / 16) * 16) = v;
  }
}

// Q tile -> shared memory (rows past the tile's valid rows are zero) and the
// per-row sigma_q. BF16 Q goes through cp.async (the caller commits); FP8 Q
// through registers, decoded on the way.
template <int QF>
__device__ __forceinline__ void load_q_tile(const DecodeParams& p, const ItemCtx& c, uint8_t* s_q, float* s_qscale) {
  const int tid = threadIdx.x;
  if (QF == MLA_FORMAT_BF16) {
    const uint8_t* q = static_cast<const uint8_t*>(p.q);
    constexpr int kChunks = MLA_ROW_BYTES_BF16 / 16;
    for (int i = tid; i < 64 * kChunks; i += kPortableThreads) {
      const int r = i / kChunks, piece = i - r * kChunks;
      const bool valid = r < c.tile_rows;
      const uint8_t* src = valid ? q + (c.q_row0 + r) * MLA_ROW_BYTES_BF16 + piece * 16 : q;
      ptx::cp_async_16(ptx::smem_addr(s_q + r * kSmemRowPitch + piece * 16), src, valid);
    }
    if (tid < 64) s_qscale[tid] = 1.f;
  } else {
    const uint8_t* q = static_cast<const uint8_t*>(p.q);
    constexpr int kChunks = MLA_ROW_BYTES_FP8 / 16;
    for (int i = tid; i < 64 * kChunks; i += kPortableThreads) {
      const int r = i / kChunks, piece = i - r * kChunks;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (r < c.tile_rows) v = __ldg(reinterpret_cast<const uint4*>(q + (c.q_row0 + r) * MLA_ROW_BYTES_FP8 + piece * 16));
      store_fp8_chunk(s_q + r * kSmemRowPitch, piece, v);
    }
    if (tid < 64) {
      const int r = c.row0 + tid;
      s_qscale[tid] = tid < c.tile_rows ? p.q_scales[c.q_token0 + r / p.num_heads] : 0.f;
    }
  }
}

// K tile of keys [key0, key0 + TN) -> shared memory with cp.async (BF16 KV).
template <class T>
__device__ __forceinline__ void issue_kv_tile_async(const DecodeParams& p, const ItemCtx& c, int32_t key0,
                                                    uint8_t* s_tile) {
  constexpr int kChunks = T::kKvChunks;
  for (int i = threadIdx.x; i < T::kTileN * kChunks; i += kPortableThreads) {
    const int j = i / kChunks, piece = i - j * kChunks;
    const int32_t key = key0 + j;
    bool valid = key >= c.lo && key < c.hi;
    const uint8_t* row = kv_row<T::kKvFormat>(p, c.request, key, valid);
    ptx::cp_async_16(ptx::smem_addr(s_tile + j * kSmemRowPitch + piece * 16), valid ? row + piece * 16 : row, valid);
  }
}

// Raw FP8 rows (and sigma_k) of keys [key0, key0 + TN) -> shared memory with
// cp.async; decode_raw_tile turns them into the BF16 tile.
template <class T>
__device__ __forceinline__ void issue_raw_tile_async(const DecodeParams& p, const ItemCtx& c, int32_t key0,
                                                     uint8_t* s_raw, float* s_raw_scale) {
  constexpr int kChunks = MLA_ROW_BYTES_FP8 / 16;
  for (int i = threadIdx.x; i < T::kTileN * kChunks; i += kPortableThreads) {
    const int j = i / kChunks, piece = i - j * kChunks;
    const int32_t key = key0 + j;
    bool valid = key >= c.lo && key < c.hi;
    const uint8_t* row = kv_row<MLA_FORMAT_FP8_ROPE640>(p, c.request, key, valid);
    ptx::cp_async_16(ptx::smem_addr(s_raw + j * MLA_ROW_BYTES_FP8 + piece * 16), valid ? row + piece * 16 : row, valid);
  }
  if (int(threadIdx.x) < T::kTileN) {
    const int32_t key = key0 + int32_t(threadIdx.x);
    bool valid = key >= c.lo && key < c.hi;
    const int64_t slot = kv_slot(p, c.request, key, valid);
    ptx::cp_async_4(ptx::smem_addr(s_raw_scale + threadIdx.x), p.kv_scales + slot, valid);
  }
}

template <class T>
__device__ __forceinline__ void decode_raw_tile(const uint8_t* s_raw, const float* s_raw_scale, uint8_t* s_tile,
                                                float* s_kscale) {
  constexpr int kChunks = MLA_ROW_BYTES_FP8 / 16;
  for (int i = threadIdx.x; i < T::kTileN * kChunks; i += kPortableThreads) {
    const int j = i / kChunks, piece = i - j * kChunks;
    store_fp8_chunk(s_tile + j * kSmemRowPitch, piece,
                    *reinterpret_cast<const uint4*>(s_raw + j * MLA_ROW_BYTES_FP8 + piece * 16));
  }
  if (int(threadIdx.x) < T::kTileN) s_kscale[threadIdx.x] = s_raw_scale[threadIdx.x];
}

// A K tile staged in registers: loaded while the previous tile is computed,
// stored (decoded for FP8) into shared memory after it.
template <class T>
struct KvRegs {
  uint4 v[T::kRegChunks];
  float sigma;  // sigma_k of key threadIdx.x of the tile (threads < TN, FP8 KV)
};

template <class T>
__device__ __forceinline__ void load_kv_tile_regs(const DecodeParams& p, const ItemCtx& c, int32_t key0,
                                                  KvRegs<T>& r) {
  constexpr int kChunks = T::kKvChunks;
#pragma unroll
  for (int u = 0; u < T::kRegChunks; ++u) {
    const int i = threadIdx.x + u * kPortableThreads;
    r.v[u] = make_uint4(0, 0, 0, 0);
    if (i < T::kTileN * kChunks) {
      const int j = i / kChunks, piece = i - j * kChunks;
      const int32_t key = key0 + j;
      bool valid = key >= c.lo && key < c.hi;
      const uint8_t* row = kv_row<T::kKvFormat>(p, c.request, key, valid);
      if (valid) r.v[u] = __ldg(reinterpret_cast<const uint4*>(row + piece * 16));
    }
  }
  r.sigma = 0.f;
  if (T::kKvFormat == MLA_FORMAT_FP8_ROPE640 && int(threadIdx.x) < T::kTileN) {
    const int32_t key = key0 + int32_t(threadIdx.x);
    if (key >= c.lo && key < c.hi) r.sigma = kv_scale(p, c.request, key);
  }
}

template <class T>
__device__ __forceinline__ void store_kv_tile_regs(const KvRegs<T>& r, uint8_t* s_tile, float* s_kscale) {
  constexpr int kChunks = T::kKvChunks;
#pragma unroll
  for (int u = 0; u < T::kRegChunks; ++u) {
    const int i = threadIdx.x + u * kPortableThreads;
    if (i < T::kTileN * kChunks) {
      const int j = i / kChunks, piece = i - j * kChunks;
      if (T::kKvFormat == MLA_FORMAT_BF16)
        *reinterpret_cast<uint4*>(s_tile + j * kSmemRowPitch + piece * 16) = r.v[u];
      else
        store_fp8_chunk(s_tile + j * kSmemRowPitch, piece, r.v[u]);
    }
  }
  if (int(threadIdx.x) < T::kTileN) s_kscale[threadIdx.x] = r.sigma;
}

// Shared-memory pointers of one CTA.
struct Smem {
  uint8_t* q;
  uint8_t* k;  // stage s at k + s * TN * kSmemRowPitch
  uint8_t* p;
  float* red;     // [kPortableWarpsN][64]: per column group, a value per tile row
  float* kscale;  // [stages][TN]
  float* qscale;  // [64]
  uint8_t* raw;      // [raw stages][TN][640]: FP8 rows in flight
  float* raw_scale;  // [raw stages][TN]
  uint32_t* flags;   // bit k: key k of the tile had a non-finite V (rare path)
};

// Per-thread softmax state of its two rows (tile rows 16 rg + g and + 8).
struct RowState {
  float m[2];      // running max of the logits, log2 domain
  float l[2];      // this thread's share of the row sums (its keys), rescaled with m
  int32_t vb[2];   // visible keys of the row: [vb, ve) within [lo, hi)
  int32_t ve[2];
};

// The 4 warps of a row group exchange row maxima, P and row sums through
// shared memory, synchronised by the group's own hardware barrier (1 + rg).
// Building with -DMLA_PORTABLE_CTA_BARRIERS=1 (a diagnostic for
// compute-sanitizer) uses CTA-wide barriers instead.
__device__ __forceinline__ void row_group_sync(int rg) {
#if defined(MLA_PORTABLE_CTA_BARRIERS) && MLA_PORTABLE_CTA_BARRIERS
  (void)rg;
  __syncthreads();
#else
  ptx::named_barrier(1 + rg, kPortableWarpsN * 32);
#endif
}

// The rare path of nonfinite.cuh, run by the whole CTA between the S and
// P.V phases of a tile: every non-finite value of the tile's V rows becomes 0
// and the keys that had one are returned as a bit mask (same in every thread).
template <class T>
__device__ __forceinline__ uint32_t sanitize_v_tile(const Smem& sm, uint8_t* s_k) {
  constexpr int kChunksV = MLA_DIM_V * 2 / 16;  // 16-byte chunks of a V row
  if (threadIdx.x == 0) *sm.flags = 0u;
  __syncthreads();
  for (int i = threadIdx.x; i < T::kTileN * kChunksV; i += kPortableThreads) {
    const int key = i / kChunksV, chunk = i - key * kChunksV;
    uint4* at = reinterpret_cast<uint4*>(s_k + key * kSmemRowPitch + chunk * 16);
    uint4 v = *at;
    if (zero_nonfinite_bf16x8(v)) {
      *at = v;
      atomicOr(sm.flags, 1u << key);
    }
  }
  __syncthreads();
  return *sm.flags;
}

// One TN-key tile: S = Q.K^T, online softmax, O += P.V. Every warp calls it
// (the barriers stay matched); warps whose row group has no valid row
// (!active) only take part in the barriers.
template <class T>
__device__ __forceinline__ void compute_tile(const DecodeParams& p, const Smem& sm, uint8_t* s_k,
                                             const float* s_kscale, int32_t key0, bool active, RowState& st,
                                             float (&o)[16][4]) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int rg = warp / kPortableWarpsN, cg = warp % kPortableWarpsN;
  const int g = lane >> 2, kq = lane & 3;
  const bool s_warp = active && cg < T::kSGroups;
  float x[4];
  float s[4] = {0.f, 0.f, 0.f, 0.f};
  if (s_warp) {
    const uint32_t qa = ptx::smem_addr(sm.q + (rg * 16 + (lane & 15)) * kSmemRowPitch + (lane >> 4) * 16);
    const uint32_t kb = ptx::smem_addr(s_k + (cg * 8 + (lane & 7)) * kSmemRowPitch + (lane >> 3) * 16);
#pragma unroll(T::kSUnroll)
    for (int kk = 0; kk < MLA_DIM_QK / 16; kk += 2) {
      uint32_t a0[4], a1[4], b[4];
      ptx::ldmatrix_x4(qa + kk * 32, a0);
      ptx::ldmatrix_x4(qa + kk * 32 + 32, a1);
      ptx::ldmatrix_x4(kb + kk * 32, b);  // keys x dims [kk*16, kk*16 + 32)
      ptx::mma_bf16_16816(s, a0, b[0], b[1]);
      ptx::mma_bf16_16816(s, a1, b[2], b[3]);
    }
  }
  // A key with a non-finite V must not reach rows that do not see it through
  // 0 * V in P.V (nonfinite.cuh): rare path when any raw logit is non-finite.
  const bool suspicious = s_warp && !is_finite_f32((s[0] + s[1]) + (s[2] + s[3]));
  const uint32_t bad_keys = __syncthreads_or(suspicious) ? sanitize_v_tile<T>(sm, s_k) : 0u;
  if (s_warp) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int j = e >> 1, kt = cg * 8 + 2 * kq + (e & 1);
      const int32_t key = key0 + kt;
      const float rf = p.scale_log2 * sm.qscale[rg * 16 + g + 8 * j];
      const float sk = T::kKvFormat == MLA_FORMAT_BF16 ? 1.f : s_kscale[kt];
      const float v = (bad_keys >> kt) & 1u ? __int_as_float(0x7FC00000) : s[e] * rf * sk;
      x[e] = (key >= st.vb[j] && key < st.ve[j]) ? v : -INFINITY;
    }
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      float mx = fmaxf(x[2 * j], x[2 * j + 1]);
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      if (kq == 0) sm.red[cg * 64 + rg * 16 + g + 8 * j] = mx;
    }
  }
  row_group_sync(rg);
  if (!active) {
    row_group_sync(rg);
    return;
  }

  float alpha[2], m_ref[2];
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const int row = rg * 16 + g + 8 * j;
    float mx = sm.red[row];
#pragma unroll
    for (int c2 = 1; c2 < T::kSGroups; ++c2) mx = fmaxf(mx, sm.red[c2 * 64 + row]);
    const float m_new = fmaxf(st.m[j], mx);
    m_ref[j] = m_new == -INFINITY ? 0.f : m_new;  // no visible key yet: keep exp2 away from -inf - -inf
    alpha[j] = exp2f(st.m[j] - m_ref[j]);
    st.m[j] = m_new;
  }
  if (s_warp) {
    const int kt = cg * 8 + 2 * kq;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const float p0 = exp2f(x[2 * j] - m_ref[j]), p1 = exp2f(x[2 * j + 1] - m_ref[j]);
      st.l[j] = st.l[j] * alpha[j] + (p0 + p1);
      // V of a cached row is sigma_k * content: fold sigma_k into P (fp32), then round to BF16.
      // A key the row does not see adds exactly 0 whatever its sigma_k (0 * NaN / inf would be
      // NaN); a visible key's non-finite sigma_k still reaches the row.
      const int32_t key = key0 + kt;
      const bool seen0 = key >= st.vb[j] && key < st.ve[j], seen1 = key + 1 >= st.vb[j] && key + 1 < st.ve[j];
      const float v0 = T::kKvFormat == MLA_FORMAT_BF16 ? p0 : seen0 ? p0 * s_kscale[kt] : 0.f;
      const float v1 = T::kKvFormat == MLA_FORMAT_BF16 ? p1 : seen1 ? p1 * s_kscale[kt + 1] : 0.f;
      uint8_t* dst = sm.p + (rg * 16 + g + 8 * j) * T::kPPitch + kt * 2;
      const __nv_bfloat162 hi = __floats2bfloat162_rn(v0, v1);
      *reinterpret_cast<__nv_bfloat162*>(dst) = hi;
      if constexpr (T::kPTiles == 2) {  // the remainder, exact in fp32
        const float2 h = __bfloat1622float2(hi);
        *reinterpret_cast<__nv_bfloat162*>(dst + T::kPTileBytes) = __floats2bfloat162_rn(v0 - h.x, v1 - h.y);
      }
    }
  }
  row_group_sync(rg);

#pragma unroll
  for (int nt = 0; nt < 16; ++nt) {
    o[nt][0] *= alpha[0];
    o[nt][1] *= alpha[0];
    o[nt][2] *= alpha[1];
    o[nt][3] *= alpha[1];
  }
  const uint32_t pa = ptx::smem_addr(sm.p + (rg * 16 + (lane & 15)) * T::kPPitch + (lane >> 4) * 16);
  const uint32_t va = ptx::smem_addr(s_k + ((lane & 7) + ((lane >> 3) & 1) * 8) * kSmemRowPitch +
                                     (cg * kPortableColsPerWarp + (lane >> 4) * 8) * 2);
#pragma unroll
  for (int ks = 0; ks < T::kTileN / 16; ++ks) {
    uint32_t a[4], a_lo[4];
    ptx::ldmatrix_x4(pa + ks * 32, a);
    if constexpr (T::kPTiles == 2) ptx::ldmatrix_x4(pa + T::kPTileBytes + ks * 32, a_lo);
#pragma unroll
    for (int np = 0; np < 8; ++np) {
      uint32_t b[4];
      ptx::ldmatrix_x4_trans(va + ks * 16 * kSmemRowPitch + np * 32, b);  // keys x 16 columns
      ptx::mma_bf16_16816(o[2 * np], a, b[0], b[1]);
      ptx::mma_bf16_16816(o[2 * np + 1], a, b[2], b[3]);
      if constexpr (T::kPTiles == 2) {
        ptx::mma_bf16_16816(o[2 * np], a_lo, b[0], b[1]);
        ptx::mma_bf16_16816(o[2 * np + 1], a_lo, b[2], b[3]);
      }
    }
  }
}

// Streams the item's K tiles through shared memory and computes them.
template <class T>
__device__ __forceinline__ void run_tiles(const DecodeParams& p, const ItemCtx& c, const Smem& sm, bool warp_active,
                                          RowState& st, float (&o)[16][4]) {
  constexpr int kTileBytes = T::kTileN * kSmemRowPitch;
  // Double buffering: at the top of iteration t one barrier makes tile t
  // visible to everyone and guarantees that every warp has finished tile t-1,
  // so the buffer tile t-1 used can be refilled with tile t+1 while tile t is
  // computed. (cp.async.wait_all: only tile t is outstanding there.)
  if constexpr (T::kAsyncKv) {
    static_assert(T::kStages == 2, "double buffer");
    issue_kv_tile_async<T>(p, c, c.first_tile, sm.k);
    ptx::cp_async_commit();  // with a BF16 Q tile
    for (int t = 0; t < c.n_tiles; ++t) {
      const int stage = t & 1;
      ptx::cp_async_wait_all();
      __syncthreads();
      if (t + 1 < c.n_tiles)
        issue_kv_tile_async<T>(p, c, c.first_tile + (t + 1) * T::kTileN, sm.k + (stage ^ 1) * kTileBytes);
      ptx::cp_async_commit();
      compute_tile<T>(p, sm, sm.k + stage * kTileBytes, sm.kscale, c.first_tile + t * T::kTileN, warp_active, st, o);
    }
  } else if constexpr (T::kRawAsyncKv) {
    static_assert(T::kRawStages == 2, "double buffer");
    constexpr int kRawBytes = T::kTileN * MLA_ROW_BYTES_FP8;
    issue_raw_tile_async<T>(p, c, c.first_tile, sm.raw, sm.raw_scale);
    ptx::cp_async_commit();  // with a BF16 Q tile
    for (int t = 0; t < c.n_tiles; ++t) {
      const int stage = t & 1;
      ptx::cp_async_wait_all();
      __syncthreads();  // raw tile t landed; tile t-1 is decoded and computed by everyone
      if (t + 1 < c.n_tiles)
        issue_raw_tile_async<T>(p, c, c.first_tile + (t + 1) * T::kTileN, sm.raw + (stage ^ 1) * kRawBytes,
                                sm.raw_scale + (stage ^ 1) * T::kTileN);
      ptx::cp_async_commit();
      decode_raw_tile<T>(sm.raw + stage * kRawBytes, sm.raw_scale + stage * T::kTileN, sm.k, sm.kscale);
      __syncthreads();  // the BF16 tile is ready
      compute_tile<T>(p, sm, sm.k, sm.kscale, c.first_tile + t * T::kTileN, warp_active, st, o);
    }
  } else {
    KvRegs<T> regs;
    load_kv_tile_regs<T>(p, c, c.first_tile, regs);
    for (int t = 0; t < c.n_tiles; ++t) {
      if (t > 0) __syncthreads();  // everyone is done with the previous tile
      store_kv_tile_regs<T>(regs, sm.k, sm.kscale);
      if (t + 1 < c.n_tiles) load_kv_tile_regs<T>(p, c, c.first_tile + (t + 1) * T::kTileN, regs);
      if (t == 0) ptx::cp_async_wait_all();  // a BF16 Q tile
      __syncthreads();
      compute_tile<T>(p, sm, sm.k, sm.kscale, c.first_tile + t * T::kTileN, warp_active, st, o);
    }
  }
}

// Row sums across the column groups, then out / LSE (or the split's partial
// result) of the thread's rows and columns. Every warp calls it (barriers).
template <class T>
__device__ __forceinline__ void store_results(const DecodeParams& p, const ItemCtx& c, const Smem& sm, bool active,
                                              const RowState& st, const float (&o)[16][4]) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int rg = warp / kPortableWarpsN, cg = warp % kPortableWarpsN;
  const int g = lane >> 2, kq = lane & 3;
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    float l = st.l[j];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    if (kq == 0 && active) sm.red[cg * 64 + rg * 16 + g + 8 * j] = l;
  }
  row_group_sync(rg);
  if (!active) return;
  constexpr float kLn2 = 0.693147180559945309f;
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const int local = rg * 16 + g + 8 * j;
    const int32_t rr = c.row0 + local;  // request row
    if (local >= c.tile_rows) continue;
    float sum = sm.red[local];
#pragma unroll
    for (int c2 = 1; c2 < kPortableWarpsN; ++c2) sum += sm.red[c2 * 64 + local];
    const float inv = sum == 0.f ? 0.f : 1.f / sum;
    const float lse = sum == 0.f ? -INFINITY : (st.m[j] + log2f(sum)) * kLn2;
    const int col0 = cg * kPortableColsPerWarp + 2 * kq;
    if (c.partial_row < 0) {
      uint16_t* dst = p.out + (c.q_row0 + local) * int64_t(MLA_DIM_V) + col0;
#pragma unroll
      for (int nt = 0; nt < 16; ++nt)
        *reinterpret_cast<__nv_bfloat162*>(dst + nt * 8) = __floats2bfloat162_rn(o[nt][2 * j] * inv, o[nt][2 * j + 1] * inv);
      if (cg == 0 && kq == 0) p.lse[c.q_row0 + local] = lse;
    } else {
      float* dst = p.partial_out + (int64_t(c.partial_row) + rr) * MLA_DIM_V + col0;
#pragma unroll
      for (int nt = 0; nt < 16; ++nt)
        *reinterpret_cast<float2*>(dst + nt * 8) = make_float2(o[nt][2 * j] * inv, o[nt][2 * j + 1] * inv);
      if (cg == 0 && kq == 0) p.partial_lse[int64_t(c.partial_row) + rr] = lse;
    }
  }
}

// What CTA (part, m_tile) does with work item `it`; false: nothing (a
// flagged request, or the request has no M tile m_tile).
template <class T>
__device__ __forceinline__ bool make_item_ctx(const DecodeParams& p, int32_t it, int32_t m_tile, ItemCtx& c) {
  const WorkItem item = p.items[it];
  const RequestInfo rq = p.requests[item.request];
  c.rows = rq.q_len * p.num_heads;
  c.row0 = m_tile * kBlockM;
  if (rq.status != 0 || c.row0 >= c.rows) return false;
  c.request = item.request;
  c.q_len = rq.q_len;
  c.kv_len = rq.kv_len;
  c.tile_rows = min(kBlockM, c.rows - c.row0);
  c.q_row0 = int64_t(rq.q_begin) * p.num_heads + c.row0;
  c.q_token0 = rq.q_begin;
  c.partial_row = item.num_splits > 1 ? item.partial_row : -1;
  // Visible ranges only move forward with the token: the tile's union is
  // [first token's begin, last token's end).
  const KeyRange first = token_range(p, c, c.row0 / p.num_heads);
  const KeyRange last = token_range(p, c, (c.row0 + c.tile_rows - 1) / p.num_heads);
  int64_t lo = first.begin > item.key_begin ? first.begin : item.key_begin;
  int64_t hi = last.end < item.key_end ? last.end : item.key_end;
  if (hi > c.kv_len) hi = c.kv_len;  // never trust an item beyond the request
  if (lo < 0) lo = 0;
  if (hi > lo) {
    c.lo = int32_t(lo);
    c.hi = int32_t(hi);
    c.first_tile = c.lo / T::kTileN * T::kTileN;
    c.n_tiles = (c.hi - c.first_tile + T::kTileN - 1) / T::kTileN;
  } else {
    c.lo = c.hi = c.first_tile = c.n_tiles = 0;
  }
  return true;
}

template <class T>
__device__ __forceinline__ void portable_decode_body(const DecodeParams& p) {
  extern __shared__ __align__(128) uint8_t smem[];
  Smem sm;
  sm.q = smem + T::kL.off_q;
  sm.k = smem + T::kL.off_k;
  sm.p = smem + T::kL.off_p;
  sm.red = reinterpret_cast<float*>(smem + T::kL.off_red);
  sm.kscale = reinterpret_cast<float*>(smem + T::kL.off_kscale);
  sm.qscale = reinterpret_cast<float*>(smem + T::kL.off_qscale);
  sm.raw = smem + T::kL.off_raw;
  sm.raw_scale = reinterpret_cast<float*>(smem + T::kL.off_raw_scale);
  sm.flags = reinterpret_cast<uint32_t*>(smem + T::kL.off_flags);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int rg = warp / kPortableWarpsN, g = lane >> 2;
  const int32_t m_tile = blockIdx.y;
  const int32_t it_end = p.part_begin[blockIdx.x + 1];
  int32_t loaded_request = -1;
  for (int32_t it = p.part_begin[blockIdx.x]; it < it_end; ++it) {
    ItemCtx c;
    if (!make_item_ctx<T>(p, it, m_tile, c)) continue;  // uniform over the CTA
    __syncthreads();  // the previous item is done with shared memory
    if (c.n_tiles > 0 && c.request != loaded_request) {
      load_q_tile<T::kQFormat>(p, c, sm.q, sm.qscale);
      loaded_request = c.request;
    }
    RowState st;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      st.m[j] = -INFINITY;
      st.l[j] = 0.f;
      st.vb[j] = st.ve[j] = 0;
      const int local = rg * 16 + g + 8 * j;
      if (local < c.tile_rows) {
        const KeyRange r = token_range(p, c, (c.row0 + local) / p.num_heads);
        st.vb[j] = int32_t(r.begin > c.lo ? r.begin : c.lo);
        st.ve[j] = int32_t(r.end < c.hi ? r.end : c.hi);
      }
    }
    float o[16][4];
#pragma unroll
    for (int nt = 0; nt < 16; ++nt) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.f;
    const bool warp_active = rg * 16 < c.tile_rows;
    if (c.n_tiles > 0) run_tiles<T>(p, c, sm, warp_active, st, o);
    store_results<T>(p, c, sm, warp_active, st, o);
  }
}

template <int QF, int KVF, int TN, int STAGES>
__global__ void __launch_bounds__(kPortableThreads, 1) portable_decode_kernel(const __grid_constant__ DecodeParams p) {
  using T = Traits<QF, KVF, TN, STAGES>;
  if constexpr (config_in_this_pass<TN>()) {
    portable_decode_body<T>(p);
  } else {
    __trap();  // the host never launches this configuration on this architecture
  }
}

template <int QF, int KVF, int TN, int STAGES>
cudaError_t launch_portable_config(const DecodeParams& p, cudaStream_t stream) {
  using T = Traits<QF, KVF, TN, STAGES>;
  auto kernel = portable_decode_kernel<QF, KVF, TN, STAGES>;
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes);
  if (e != cudaSuccess) return e;
  kernel<<<dim3(unsigned(p.num_parts), unsigned(p.max_m_tiles)), kPortableThreads, T::kSmemBytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mla::cuda_impl::portable

namespace mla::cuda_impl {

template <int QF, int KVF>
cudaError_t launch_portable_decode(const DecodeParams& p, PortableSize size, cudaStream_t stream) {
  if (size == PortableSize::big)
    return portable::launch_portable_config<QF, KVF, kPortableBig.tile_n, kPortableBig.stages>(p, stream);
  return portable::launch_portable_config<QF, KVF, kPortableSmall.tile_n, kPortableSmall.stages>(p, stream);
}

}  // namespace mla::cuda_impl
