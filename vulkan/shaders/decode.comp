#version 450
// decode.comp - the attention pass. One workgroup = one item of the plan:
// G query rows (r = i * H + h, consecutive rows of one request, so a group
// may span tokens) against one partition of the request's keys, walked in
// tiles of N keys with an online softmax in the log2 domain.
//
// Per tile: the next tile's rows are fetched into registers (16-byte loads,
// consecutive threads on consecutive bytes of a row) while the current tile,
// staged as fp32 in shared memory, goes through Q.K, the softmax and P.V.
// See shader_interface.h for the thread layout.
//
// A partition that is the whole request writes BF16 output and LSE directly;
// otherwise it writes its fp32 partial output (already divided by its own
// softmax sum) and its log2-domain LSE for combine.comp.
//
// Compile with -DMLA_G=<4|8|16> (rows), -DMLA_N=<4|8|16> (keys per tile),
// -DMLA_QK_ROWS=<1|2> and optionally -DMLA_QK_BATCH=<keys per Q.K reduction>.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

#if !defined(MLA_G) || !defined(MLA_N)
#error "compile with -DMLA_G=<rows per workgroup> -DMLA_N=<keys per tile>"
#endif
#define G MLA_G
#define N MLA_N
#define T MLA_VK_DECODE_THREADS(G)
#ifdef MLA_QK_BATCH
#define QB MLA_QK_BATCH
#else
#define QB MLA_VK_QK_BATCH(N)
#endif
// Query rows per thread in Q.K (1 or 2): with 2, each shared-memory load of K
// feeds two rows and the threads of a (row pair, slice) split the keys. The
// arithmetic of every partial dot is the same either way (same bits).
#ifndef MLA_QK_ROWS
#define MLA_QK_ROWS 1
#endif
#define QR MLA_QK_ROWS
#define ROWV4 MLA_VK_ROW_VEC4
// 16-byte loads per thread per tile (BF16 rows are the larger format).
#define LD ((N * MLA_VK_BF16_ROW_UVEC4 + T - 1) / T)
// P.V ownership: the 128 column quads of a row; with more than 128 threads
// the rows are split into blocks, with fewer a thread takes several quads.
#define PV_QUADS (T >= 128 ? 1 : 128 / T)
#define PV_ROWS (T >= 128 ? G * 128 / T : G)
#define PV_QUAD_STRIDE (T >= 128 ? 128 : T)

layout(local_size_x = T) in;

#include "decode_common.glsl"

// Shared memory: exactly MLA_VK_DECODE_SMEM_FLOATS(G, N, QB) floats.
shared vec4 sK[N * ROWV4];                       // key tile, fp32, unscaled
shared vec4 sRed[QB * MLA_VK_SLICES * G / 4];    // Q.K partials [n][slice][g]; then P [n][g]
shared vec4 sS[G * N / 4];                       // logits (log2 domain) [g][n]; at the end l partials
shared float sKs[N];                             // sigma_k per key (1 for BF16)
shared float sCorr[G];                           // this tile's rescale of each row
shared float sRowL[G];
shared float sRowM[G];

void red_store(uint i, float v) { sRed[i >> 2][i & 3u] = v; }
float red_load(uint i) { return sRed[i >> 2][i & 3u]; }
void s_store(uint i, float v) { sS[i >> 2][i & 3u] = v; }
float s_load(uint i) { return sS[i >> 2][i & 3u]; }

// Decode the fetched words into the fp32 tile.
void stage_tile() {
  const uint tid = gl_LocalInvocationID.x;
  if (pc.kv_format == MLA_FORMAT_FP8_ROPE640) {
    UNROLL for (uint j = 0u; j < LD; ++j) {
      const uint idx = tid + j * T;
      if (idx < N * MLA_VK_FP8_ROW_UVEC4) {
        const uvec4 r = g_regs[j];
        const uint n = idx / MLA_VK_FP8_ROW_UVEC4, w = idx % MLA_VK_FP8_ROW_UVEC4;
        if (w < MLA_VK_FP8_CONTENT_UVEC4) {  // 16 e4m3 codes -> 4 vec4
          const uint base = n * ROWV4 + 4u * w;
          sK[base] = fp8x4(r.x);
          sK[base + 1u] = fp8x4(r.y);
          sK[base + 2u] = fp8x4(r.z);
          sK[base + 3u] = fp8x4(r.w);
        } else {  // 8 BF16 rope values
          const uint base = n * ROWV4 + 128u + 2u * (w - MLA_VK_FP8_CONTENT_UVEC4);
          sK[base] = vec4(bf16_lo(r.x), bf16_hi(r.x), bf16_lo(r.y), bf16_hi(r.y));
          sK[base + 1u] = vec4(bf16_lo(r.z), bf16_hi(r.z), bf16_lo(r.w), bf16_hi(r.w));
        }
      }
    }
  } else {
    UNROLL for (uint j = 0u; j < LD; ++j) {
      const uint idx = tid + j * T;
      if (idx < N * MLA_VK_BF16_ROW_UVEC4) {
        const uvec4 r = g_regs[j];
        const uint base = (idx / MLA_VK_BF16_ROW_UVEC4) * ROWV4 + 2u * (idx % MLA_VK_BF16_ROW_UVEC4);
        sK[base] = vec4(bf16_lo(r.x), bf16_hi(r.x), bf16_lo(r.y), bf16_hi(r.y));
        sK[base + 1u] = vec4(bf16_lo(r.z), bf16_hi(r.z), bf16_lo(r.w), bf16_hi(r.w));
      }
    }
  }
  if (tid < N) sKs[tid] = g_reg_sk;
}

// One key of P.V for this thread's rows and quads; STEP is one of the two below.
#define PV_FMA(a, p, v) acc[a] = fma(vec4(p), v, acc[a]);
#define PV_FMA_VISIBLE(a, p, v) if (p != 0.0) acc[a] = fma(vec4(p), v, acc[a]);
#define PV_KEY(n, STEP)                                                            \
  {                                                                                \
    vec4 v[PV_QUADS];                                                              \
    UNROLL for (uint q = 0u; q < PV_QUADS; ++q) v[q] = sK[n * ROWV4 + quad0 + q * PV_QUAD_STRIDE]; \
    UNROLL for (uint r4 = 0u; r4 < PV_ROWS / 4u; ++r4) {                           \
      const vec4 p4 = sRed[(n * G + prow0) / 4u + r4];                             \
      UNROLL for (uint q = 0u; q < PV_QUADS; ++q) {                                \
        const uint a = (4u * r4) * PV_QUADS + q;                                   \
        STEP(a, p4.x, v[q])                                                        \
        STEP(a + PV_QUADS, p4.y, v[q])                                             \
        STEP(a + 2u * PV_QUADS, p4.z, v[q])                                        \
        STEP(a + 3u * PV_QUADS, p4.w, v[q])                                        \
      }                                                                            \
    }                                                                              \
  }

void main() {
  const uint tid = gl_LocalInvocationID.x;
  DecodeItem it;
  if (!begin_item(G, it)) return;
  const int H = pc.num_heads;
  const int row0 = it.row0, row_end = it.row_end;
  const uint nsplit = it.nsplit, split = it.split, p_begin = it.p_begin, p_end = it.p_end;

  load_fp8_table();
  WG_SYNC();

  // The row of this thread's softmax state (and of its Q.K reductions).
  const uint gq = tid % G;
  const int row = row0 + int(gq);
  const bool row_active = row < row_end;
  float q_scale = 0.0;  // softmax_scale * log2(e) * sigma_q
  ivec2 vis = ivec2(0, 0);
  if (row_active) {
    const int i = row / H;
    q_scale = pc.scale_log2 * (pc.q_format == MLA_FORMAT_FP8_ROPE640 ? q_scales[g_q_begin + i] : 1.0);
    vis = visible_keys(g_kv_len, g_q_len, i);
  }
  // Q.K: rows qk_row0 .. + QR - 1, dims [36 sq, 36 sq + 36), keys kl, kl + QR, ... of each batch.
  const uint qk_row0 = (tid % (G / QR)) * QR, sq = (tid / (G / QR)) % MLA_VK_SLICES, kl = tid / (MLA_VK_SLICES * G / QR);
  vec4 qv[QR * MLA_VK_SLICE_VEC4];
  UNROLL for (uint r = 0u; r < QR; ++r) {
    const int qrow_in_req = row0 + int(qk_row0 + r);
    const bool q_active = qrow_in_req < row_end;
    const uint qrow = q_row_of(qrow_in_req);
    UNROLL for (uint j = 0u; j < MLA_VK_SLICE_VEC4; ++j) {
      const uint d = sq * 36u + 4u * j;
      qv[r * MLA_VK_SLICE_VEC4 + j] =
          q_active ? vec4(q_value(qrow, d), q_value(qrow, d + 1u), q_value(qrow, d + 2u), q_value(qrow, d + 3u))
                 : vec4(0.0);
    }
  }
  // Keys every active row of the group sees: a tile inside it needs no per-key mask in P.V.
  const ivec2 vis_first = visible_keys(g_kv_len, g_q_len, row0 / H);
  const ivec2 vis_last = visible_keys(g_kv_len, g_q_len, (row_end - 1) / H);

  // P.V ownership.
  const uint quad0 = tid % PV_QUAD_STRIDE;
  const uint prow0 = T >= 128 ? (tid / 128u) * PV_ROWS : 0u;
  vec4 acc[PV_ROWS * PV_QUADS];
  UNROLL for (uint a = 0u; a < PV_ROWS * PV_QUADS; ++a) acc[a] = vec4(0.0);

  float m_run = MLA_NEG_INF;  // running max of row gq (softmax threads, tid < G * N)
  float l_run = 0.0;          // running sum of key slot tid / G of row gq

  if (p_begin < p_end) fetch_tile(p_begin, min(uint(N), p_end - p_begin));
  for (uint k0 = p_begin; k0 < p_end; k0 += N) {
    const uint nk = min(uint(N), p_end - k0);
    stage_tile();
    WG_SYNC();
    if (k0 + N < p_end) fetch_tile(k0 + N, min(uint(N), p_end - k0 - N));

    // Q.K in batches of QB keys: 16 partial dots per (row, key), summed in slice order.
    UNROLL for (uint sb = 0u; sb < N / QB; ++sb) {
      UNROLL for (uint jj = 0u; jj < QB / QR; ++jj) {
        const uint nl = kl + QR * jj;
        const uint base = (sb * QB + nl) * ROWV4 + sq * MLA_VK_SLICE_VEC4;
        vec4 d4[QR];
        UNROLL for (uint r = 0u; r < QR; ++r) d4[r] = vec4(0.0);
        UNROLL for (uint j = 0u; j < MLA_VK_SLICE_VEC4; ++j) {
          const vec4 k4 = sK[base + j];  // one shared-memory load serves QR rows
          UNROLL for (uint r = 0u; r < QR; ++r) d4[r] = fma(qv[r * MLA_VK_SLICE_VEC4 + j], k4, d4[r]);
        }
        UNROLL for (uint r = 0u; r < QR; ++r)
          red_store((nl * MLA_VK_SLICES + sq) * G + qk_row0 + r, (d4[r].x + d4[r].y) + (d4[r].z + d4[r].w));
      }
      WG_SYNC();
      if (tid < G * QB) {
        const uint nl = tid / G, n = sb * QB + nl;
        float dot_qk = 0.0;
        UNROLL for (uint s = 0u; s < MLA_VK_SLICES; ++s) dot_qk += red_load((nl * MLA_VK_SLICES + s) * G + gq);
        const int key = int(k0 + n);
        const bool visible = n < nk && key >= vis.x && key < vis.y;
        s_store(gq * N + n, visible ? dot_qk * q_scale * sKs[n] : MLA_NEG_INF);
      }
      WG_SYNC();
    }

    // Online softmax: thread (g, n) for n < N; every thread of a row computes the same max.
    if (tid < G * N) {
      const uint n = tid / G;
      float tile_max = MLA_NEG_INF;
      UNROLL for (uint k = 0u; k < N / 4u; ++k) {
        const vec4 s4 = sS[(gq * N) / 4u + k];
        tile_max = max(tile_max, max(max(s4.x, s4.y), max(s4.z, s4.w)));
      }
      const float m_new = max(m_run, tile_max);
      const float corr = m_run == MLA_NEG_INF ? 0.0 : exp2(m_run - m_new);
      const float s = s_load(gq * N + n);
      const float p = s == MLA_NEG_INF ? 0.0 : exp2(s - m_new);
      l_run = l_run * corr + p;
      m_run = m_new;
      // V of a key is sigma_k * content. A key the row does not see (masked,
      // or past the partition) contributes exactly 0 whatever its sigma_k
      // (0 * inf / NaN would be NaN); a visible key's NaN / Inf sigma_k still
      // reaches the row.
      const int key = int(k0 + n);
      const bool visible = n < nk && key >= vis.x && key < vis.y;
      red_store(n * G + gq, visible ? p * sKs[n] : 0.0);
      if (n == 0u) sCorr[gq] = corr;
    }
    WG_SYNC();

    // P.V: acc[row][quad] = acc * corr + sum_n P[n][row] * V[n][quad].
    UNROLL for (uint r = 0u; r < PV_ROWS; ++r) {
      const float c = sCorr[prow0 + r];
      UNROLL for (uint q = 0u; q < PV_QUADS; ++q) acc[r * PV_QUADS + q] *= c;
    }
    // Inside the keys every row sees, P is 0 only by underflow and the plain
    // FMA is exact; at mask edges a masked key must not reach the row even as
    // 0 * V (its V may be non-finite).
    const bool whole_tile = vis_last.x <= int(k0) && vis_first.y >= int(k0 + nk);
    if (whole_tile) {
      for (uint n = 0u; n < nk; ++n) PV_KEY(n, PV_FMA)
    } else {
      for (uint n = 0u; n < nk; ++n) PV_KEY(n, PV_FMA_VISIBLE)
    }
    WG_SYNC();
  }

  // Row sums: l of row g is the sum of its N key-slot sums, in slot order.
  if (tid < G * N) s_store(gq * N + tid / G, l_run);
  if (tid < G) sRowM[gq] = m_run;
  WG_SYNC();
  if (tid < G) {
    float l = 0.0;
    UNROLL for (uint n = 0u; n < N; ++n) l += s_load(gq * N + n);
    sRowL[gq] = l;
  }
  WG_SYNC();

  UNROLL for (uint r = 0u; r < PV_ROWS; ++r) {
    const int orow = row0 + int(prow0 + r);
    const float l = sRowL[prow0 + r];
    const uint grow = uint(g_q_begin * H + orow);
    UNROLL for (uint q = 0u; q < PV_QUADS; ++q) {
      const vec4 o = l == 0.0 ? vec4(0.0) : acc[r * PV_QUADS + q] / l;
      // padding rows of the group (orow >= row_end) write nothing
      if (orow < row_end) store_out_quad(grow, quad0 + q * PV_QUAD_STRIDE, o, nsplit, split);
    }
  }
  if (tid < G && row_active) store_lse(uint(g_q_begin * H + row), m_run, sRowL[gq], nsplit, split);
}
