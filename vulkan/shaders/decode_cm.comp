#version 450
// decode_cm.comp - the attention pass on cooperative matrices (tensor
// cores): S = Q.K^T and O += P.V as 16x16x16 FP16 products with fp32
// accumulation. The plan, the item of a workgroup, the fetch of key tiles,
// masks, splits and faults are those of decode.comp (decode_common.glsl);
// only the arithmetic of a tile differs.
//
// A workgroup owns G = 16 RG query rows of one request (RG row groups of 16,
// rows r = i * H + h as in decode.comp) and one partition of its keys,
// walked in tiles of N keys. Subgroup (rg, c) of the 4 RG subgroups:
//   S:   rows of group rg against the N keys of the tile, over dims
//        [144 c, 144 c + 144) (9 k-steps; its 9 Q fragments stay in
//        registers): an fp32 partial per (row, key) into shared memory;
//   P.V: output columns [128 c, 128 c + 128) of group rg (8 accumulators).
// The softmax runs on 8 invocations per row (N / 8 keys each): the four
// partials summed in a fixed order, scaled to the log2 domain, online max /
// sum as in decode.comp, P rounded to FP16.
//
// FP16 holds BF16's 8 significant bits but not its range, so everything
// that goes into a product is scaled by a power of two first (see
// vulkan/README.md, "Cooperative-matrix decode", for the bounds):
//   key tile: two exponents per tile, eKc for the 512 content dims (= V) and
//     eKr for the 64 rope dims, each from the largest finite exponent of
//     those BF16 values, so that values * 2^-e < 2^15 (FP8 rows: eKc = 0,
//     E4M3 is exact in FP16);
//   Q: one exponent eQ per row (all 576 dims), staged once per workgroup;
//   S partials: the fp32 products times 2^eKc (content) / 2^eKr (rope), so a
//     partial is Q' . K with Q' = Q * 2^-eQ;
//   logits: sum of partials * 2^eQ * scale * log2(e) * sigma_q * sigma_k;
//   P: p * sigma_k * 2^-eP, eP from the tile's largest sigma_k (BF16 KV:
//     eP = -14, P in [0, 2^14]); the fp32 tile product P.V is multiplied by
//     2^(eP + eKc) before it is added to O.
// A tile whose raw logits are non-finite has a non-finite K value (or Q);
// its non-finite V values are then zeroed and their keys get a NaN logit in
// the rows that see them, so 0 * NaN in P.V cannot reach rows that do not
// (as cuda/src/nonfinite.cuh).
//
// Compile with -DMLA_CM_RG=<1|2|4> -DMLA_N=<16|32>; -DMLA_CM_EMULATE for
// the scalar test build (cm_api.glsl); -DMLA_CM_PROFILE for the clock
// profile (MLA_VULKAN_CM_PROFILE=1, *_pf modules: below, "Clock profile");
// -DMLA_CM_PRODUCER -DMLA_CM_PW_BUFS=<1|2> for the producer-warp build
// (MLA_VULKAN_CM_WARPS=producer, *_pw1 / *_pw2 modules; its main is in
// decode_cm_pw.glsl; same arithmetic, same bits); -DMLA_CM_RESCALE_ALWAYS
// for O multiplied by the row rescale on every tile, not only where a row
// max moved (MLA_VULKAN_CM_RESCALE=always, *_ra modules; same bits). The
// phases both mains run are the macros of decode_cm_phases.glsl.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef MLA_CM_PROFILE
#extension GL_ARB_shader_clock : require
#endif
#ifndef MLA_CM_EMULATE
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
#include "common.glsl"

#if !defined(MLA_CM_RG) || !defined(MLA_N)
#error "compile with -DMLA_CM_RG=<row groups of 16> -DMLA_N=<keys per tile>"
#endif
#define RG MLA_CM_RG
#define N MLA_N
#define G (16 * RG)
#ifdef MLA_CM_PRODUCER
// 4 RG consumer subgroups (the roles of the default build) + 4 producer
// subgroups; LD: the producers' loads of a tile.
#if !defined(MLA_CM_PW_BUFS) || (MLA_CM_PW_BUFS != 1 && MLA_CM_PW_BUFS != 2)
#error "compile the producer build with -DMLA_CM_PW_BUFS=<1|2>"
#endif
#define T MLA_VK_CM_PW_THREADS(RG)
#define CT MLA_VK_CM_THREADS(RG)              // consumer invocations: inv < CT
#define PT MLA_VK_CM_PW_PRODUCER_THREADS      // producer invocations: inv - CT in [0, PT)
#define BUFS MLA_CM_PW_BUFS
#define LD ((N * MLA_VK_BF16_ROW_UVEC4 + PT - 1) / PT)
uint g_ptid = 0u;  // producer index inv - CT (fetch_tile's FETCH_TID)
#define FETCH_TID g_ptid
#define FETCH_T PT
#else
#define T MLA_VK_CM_THREADS(RG)
#define LD ((N * MLA_VK_BF16_ROW_UVEC4 + T - 1) / T)
#endif
// Whether the LD chunks an invocation fetches of a BF16 tile all lie in the
// tile (LD times the fetching invocations = N rows of 72 chunks: the 16-row
// tile of both mains; the CM32 / CM64 tiles at N = 16 leave chunks past it).
// publish_exponents takes its branch-free form there; it is called with the
// fetch's stride (PT in the producer build, T in the default main) only.
// The emulated build (MLA_CM_EMULATE, lavapipe) keeps the loop: lavapipe
// compiles an emulated module in minutes on CI's two cores, once per changed
// module (its disk cache keeps the rest), and nine changed ones took CI
// past its 25 minutes; the branch-free form is checked bit for bit against
// the tile scan natively ("api: MLA_VULKAN_CM_SCAN=fast ..." on the GPU).
#if defined(MLA_CM_EMULATE)
#define CM_WHOLE_CHUNKS 0
#elif defined(MLA_CM_PRODUCER)
#define CM_WHOLE_CHUNKS (LD * PT == N * MLA_VK_BF16_ROW_UVEC4)
#else
#define CM_WHOLE_CHUNKS (LD * T == N * MLA_VK_BF16_ROW_UVEC4)
#endif
#if CM_WHOLE_CHUNKS
// Where chunk idx = tid + j * stride of a BF16 tile lies: its key (row) and
// its uvec4 in the row (col), stepped from chunk j to chunk j + 1 without a
// division (the stride is a constant after inlining: PT or T). Used by the
// BF16 staging loops of the whole-chunk tiles, which then have no branch
// between their chunks (vulkan/README.md "Branch-free staging, and the
// automatic split rounded down") and by publish_exponents' scan.
struct TileChunk {
  uint row;
  uint col;
};
TileChunk chunk_first(uint tid) { return TileChunk(tid / MLA_VK_BF16_ROW_UVEC4, tid % MLA_VK_BF16_ROW_UVEC4); }
void chunk_next(inout TileChunk c, uint stride) {
  c.row += stride / MLA_VK_BF16_ROW_UVEC4;
  c.col += stride % MLA_VK_BF16_ROW_UVEC4;
  if (c.col >= MLA_VK_BF16_ROW_UVEC4) {  // one wrap at most: a select, not a branch
    c.col -= MLA_VK_BF16_ROW_UVEC4;
    c.row += 1u;
  }
}
#endif
#define KP MLA_VK_CM_KPITCH
#define SP MLA_VK_CM_SPITCH(N)
#define KPT (N / 8)  // keys per softmax invocation
#define KB (N / 16)  // 16-key blocks of a tile
#if N != 16 && N != 32
#error "N is 16 or 32"
#endif

layout(local_size_x = T) in;

#include "decode_common.glsl"

// Shared memory: exactly MLA_VK_CM_SMEM_BYTES(RG, N) bytes.
#ifdef MLA_CM_PRODUCER
// Exactly MLA_VK_CM_PW_SMEM_BYTES(RG, N, BUFS): BUFS key tiles and sigma_k rows.
shared uvec4 sK[BUFS * N * KP];
shared uvec4 sS[RG * 4 * 16 * SP];
shared float sKs[BUFS * N];
#else
shared uvec4 sK[N * KP];              // key tile as scaled FP16 [key][73]; Q staging; epilogue scratch
shared uvec4 sS[RG * 4 * 16 * SP];    // S partials [rg][c][row][N + 4 floats]; P and the rescale over c = 0, 1
shared float sKs[N];                  // sigma_k per key (1 for BF16)
#endif
#if defined(MLA_CM_PROFILE) && !defined(MLA_CM_EMULATE)
// The native profile build keeps its slots in these words (below, "Clock
// profile": no shared memory of its own, CM16xN32 has 160 B left of 48 KiB).
shared uint sRowTmpBits[G * 8];
#define ROWTMP_STORE(i, v) sRowTmpBits[i] = floatBitsToUint(v)
#define ROWTMP_LOAD(i) uintBitsToFloat(sRowTmpBits[i])
#else
shared float sRowTmp[G * 8];          // per softmax invocation: l at the end (and the emulated row max)
#define ROWTMP_STORE(i, v) sRowTmp[i] = (v)
#define ROWTMP_LOAD(i) sRowTmp[i]
#endif
shared uint sQe[G];                   // largest finite exponent field of each Q row
shared float sRowL[G];
#ifdef MLA_CM_PRODUCER
shared uint sWord[16];                // as below, plus the exponent slots of decode_cm_pw.glsl (5..13)
#else
shared uint sWord[8];
#endif
#define W_EXPKC 0u   // largest exponent field of the next tile's BF16 content values
#define W_EXPKR 1u   // of its BF16 rope values
#define W_EXPSIG 2u  // of its sigma_k (FP8 KV)
#define W_FLAG 3u    // this tile has a non-finite raw logit
#define W_BAD 4u     // keys of this tile whose V had a non-finite value (bit n)

#include "cm_api.glsl"

// ---- Clock profile (MLA_CM_PROFILE; diagnostic, never in the default build) ----
// Workgroup 0 of the dispatch (item 0) reads the subgroup clock
// (clock2x32ARB: OpReadClockKHR at subgroup scope, VK_KHR_shader_clock
// shaderSubgroupClock) at the end of each phase; lane 0 of each subgroup of
// 32 adds the cycles since the previous mark to its shared slot with an
// atomic whose result is not used (the warp does not wait for it). The
// slots: the native build's are the first words of sRowTmpBits, which
// nothing else uses before the epilogue (row8_max is shuffles there); the
// emulated build's row8_max uses sRowTmp in the loop, so it has sProf. After
// the loop lane 0 copies its slots to the profile binding (layout in
// shader_interface.h, MLA_VK_PROF_*) and a barrier frees the words; the
// epilogue's cycles are counted in a register. The marks telescope: the
// phases of a subgroup sum to its time from the start of main to the end.
// Nothing the decode computes depends on the clock, so the results are
// those of the build without the profile.
#ifdef MLA_CM_PROFILE
layout(std430, set = 0, binding = MLA_VK_BIND_PROFILE) writeonly buffer Profile { uint prof_out[]; };
#ifdef MLA_CM_EMULATE
shared uint sProf[(T / 32) * MLA_VK_PROF_PHASES];
#define PROF_SLOT(i) sProf[i]
#else
#if (T / 32) * MLA_VK_PROF_PHASES > G * 8
#error "the profile slots do not fit in sRowTmpBits"
#endif
#define PROF_SLOT(i) sRowTmpBits[i]
#endif
bool g_prof = false;   // this workgroup is the profiled one (uniform)
uint g_prof_slot = 0u; // first slot of this invocation's subgroup of 32
uint g_prof_t = 0u;    // clock at the previous mark (low 32 bits: deltas wrap correctly)
uint g_prof_sink = 0u; // keeps the wait phase's register fold alive (written to the header)
uint prof_clock() { return clock2x32ARB().x; }
void prof_mark(uint phase) {
  const uint now = prof_clock();
  if (g_prof && g_lane == 0u) atomicAdd(PROF_SLOT(g_prof_slot + phase), now - g_prof_t);
  g_prof_t = now;
}
// The first use of every register of the fetched tile: the warp waits here
// for the loads issued by fetch_tile (in-order issue).
void prof_wait_fetch() {
  uint f = floatBitsToUint(g_reg_sk);
  UNROLL for (uint j = 0u; j < LD; ++j) f |= g_regs[j].x;
  g_prof_sink ^= f;
}
// Each main: prof_begin at its start, prof_clear before its first barrier,
// PROF_MARK at the end of each phase, prof_flush after the loop (then a
// barrier, which frees the slots' words), prof_finish at its end.
void prof_begin(uint sg) {
  g_prof_t = prof_clock();
  g_prof = folded_workgroup_id() == 0u;
  g_prof_slot = sg * MLA_VK_PROF_PHASES;
}
void prof_clear(uint inv) {
  for (uint i = inv; i < uint(T / 32 * MLA_VK_PROF_PHASES); i += T) PROF_SLOT(i) = 0u;
}
// Each subgroup's lane 0 reads back the slots only it added to (program order).
void prof_flush(uint lane) {
  if (g_prof && lane == 0u) {
    UNROLL for (uint ph = 0u; ph < MLA_VK_PROF_EPILOGUE; ++ph)
      prof_out[MLA_VK_PROF_HEADER + g_prof_slot + ph] = PROF_SLOT(g_prof_slot + ph);
  }
}
// The epilogue's cycles and the header (producer_bufs: 0 for the default main).
void prof_finish(uint lane, uint inv, uint tiles, uint rows, uint producer_bufs) {
  if (!g_prof) return;
  if (lane == 0u) prof_out[MLA_VK_PROF_HEADER + g_prof_slot + MLA_VK_PROF_EPILOGUE] = prof_clock() - g_prof_t;
  if (inv == 0u) {
    prof_out[MLA_VK_PROF_W_WARPS] = uint(T / 32);
    prof_out[MLA_VK_PROF_W_TILES] = tiles;
    prof_out[MLA_VK_PROF_W_KEYS] = uint(N);
    prof_out[MLA_VK_PROF_W_ROWS] = rows;
    prof_out[MLA_VK_PROF_W_SINK] = g_prof_sink;
    prof_out[MLA_VK_PROF_W_PRODUCER] = producer_bufs;
    prof_out[MLA_VK_PROF_W_MAGIC] = MLA_VK_PROF_MAGIC;
  }
}
#define PROF_MARK(phase) prof_mark(phase)
#else
#define PROF_MARK(phase)
#endif

// First uvec4 of S partial c of row group rg ([16 rows][SP uvec4]).
uint s_base(uint rg, uint c) { return (rg * 4u + c) * 16u * SP; }

// 2^e for e in [-126, 127], exactly.
float pow2(int e) { return uintBitsToFloat(uint(e + 127) << 23); }
// x * 2^e for e in [-252, 254] in two exact steps (no fp32 overflow of the factor).
float scale_pow2(float x, int e) {
  const int e1 = clamp(e, -126, 127);
  return (x * pow2(e1)) * pow2(e - e1);
}
// The exponent e of a scale 2^-e that brings values whose largest exponent
// field is E (IEEE single / BF16 bias) below 2^15.
int exp_for(uint E) { return clamp(int(E) - 141, -126, 113); }
// Exponent field of a finite float, 0 for NaN / Inf.
uint f32_exp(float x) {
  const uint E = (floatBitsToUint(x) >> 23) & 0xFFu;
  return E == 0xFFu ? 0u : E;
}
// Largest finite exponent field of the 8 BF16 values of a chunk.
uint bf16x8_exp(uvec4 r) {
  uint m = 0u;
  UNROLL for (uint i = 0u; i < 4u; ++i) {
    const uint lo = (r[i] >> 7) & 0xFFu, hi = r[i] >> 23 & 0xFFu;
    m = max(m, max(lo == 0xFFu ? 0u : lo, hi == 0xFFu ? 0u : hi));
  }
  return m;
}
// Eight BF16 values * sc as FP16 (exact when the result is a normal FP16).
uvec4 bf16x8_to_f16(uvec4 r, float sc) {
  return uvec4(packHalf2x16(vec2(bf16_lo(r.x), bf16_hi(r.x)) * sc), packHalf2x16(vec2(bf16_lo(r.y), bf16_hi(r.y)) * sc),
               packHalf2x16(vec2(bf16_lo(r.z), bf16_hi(r.z)) * sc), packHalf2x16(vec2(bf16_lo(r.w), bf16_hi(r.w)) * sc));
}
uvec2 f32x4_to_f16(vec4 v) { return uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw)); }

#if defined(MLA_CM_SCAN_FAST)
// MLA_CM_SCAN_FAST (the default build since 5b18161; MLA_VULKAN_CM_SCAN=tile
// selects the scan below): the same exponents
// as the scan below in about half the instructions. Each BF16 exponent
// field e of a word becomes e + 1 in place, 0xFF (non-finite) wrapping to 0
// (the carry of 0x7F80 + 0x80 stays inside its half); the maxima are taken
// on whole masked words (low fields through & 0xFFFF, high fields directly)
// and the largest field is max(m, 1) - 1 (0 when nothing finite was seen,
// as below). The content / rope class of a chunk comes from a constant
// divisor per format instead of a run-time one.
void scan_fields(uvec4 r, inout uint lo, inout uint hi) {
  UNROLL for (uint i = 0u; i < 4u; ++i) {
    const uint t = ((r[i] & 0x7F807F80u) + 0x00800080u) & 0x7F807F80u;
    lo = max(lo, t & 0xFFFFu);
    hi = max(hi, t);
  }
}
uint scan_result(uint lo, uint hi) { return max(max(lo >> 7, hi >> 23), 1u) - 1u; }

// The exponents of the tile in g_regs (keys [0, nk)), held by invocation
// `tid` of `stride` (the workgroup: T; the producer build's producers: PT),
// into sWord[w + {0 content, 1 rope, 2 sigma_k}].
void publish_exponents(uint tid, uint stride, uint nk, uint w) {
  const bool fp8 = pc.kv_format == MLA_FORMAT_FP8_ROPE640;
  uint clo = 0u, chi = 0u, rlo = 0u, rhi = 0u;
  if (fp8) {  // E4M3 content needs no scaling (|x| <= 448, exact in FP16): only the rope chunks
    UNROLL for (uint j = 0u; j < LD; ++j) {
      const uint idx = tid + j * stride;
      if (idx < N * MLA_VK_FP8_ROW_UVEC4 && idx % MLA_VK_FP8_ROW_UVEC4 >= MLA_VK_FP8_CONTENT_UVEC4)
        scan_fields(g_regs[j], rlo, rhi);
    }
  } else {
#if CM_WHOLE_CHUNKS
    // BF16 tiles whose chunks all lie in the tile (the 16-row tile, both
    // mains), branch-free (twenty-first session; H200 B128 kv4096 H16, test
    // bench: producer build 0.702 -> 0.628 ms, N = 16 0.795 -> 0.701, default
    // main 0.781 -> 0.724): chunk j's column in its row follows from the
    // previous one (+ stride mod 72, one wrap at most) and its class becomes
    // a mask, so the unrolled chunks have no branch between them and the
    // compiler interleaves them (before: a division and a divergent branch a
    // chunk, one chunk after another). Zeros are the identity of these
    // maxima: the same exponents. (The same form for FP8, which scans only
    // its rope chunks, was 10% slower: it scans every chunk. With it the
    // CM64 tile measured H128 3,377 us against 3,218-3,293 before, not
    // confirmed: the CM32 / CM64 tiles keep the loop below, their SPIR-V as
    // before.)
    TileChunk c = chunk_first(tid);  // only its column is used: the row folds away
    UNROLL for (uint j = 0u; j < LD; ++j) {
      uint lo = 0u, hi = 0u;
      scan_fields(g_regs[j], lo, hi);
      const uint rope = c.col >= MLA_DIM_CONTENT / 8 ? 0xFFFFFFFFu : 0u;
      rlo = max(rlo, lo & rope);
      rhi = max(rhi, hi & rope);
      clo = max(clo, lo & ~rope);
      chi = max(chi, hi & ~rope);
      chunk_next(c, stride);
    }
#else
    UNROLL for (uint j = 0u; j < LD; ++j) {
      const uint idx = tid + j * stride;
      if (idx < N * MLA_VK_BF16_ROW_UVEC4) {
        if (idx % MLA_VK_BF16_ROW_UVEC4 >= MLA_DIM_CONTENT / 8) scan_fields(g_regs[j], rlo, rhi);
        else scan_fields(g_regs[j], clo, chi);
      }
    }
#endif
  }
  const uint es = fp8 && tid < nk ? f32_exp(g_reg_sk) : 0u;
  publish_max(scan_result(clo, chi), w);
  publish_max(scan_result(rlo, rhi), w + 1u);
  publish_max(es, w + 2u);
}
void publish_tile_exponents(uint nk) { publish_exponents(gl_LocalInvocationID.x, T, nk, W_EXPKC); }
#else
// The exponents of the tile in g_regs (keys [0, nk)) into sWord.
void publish_tile_exponents(uint nk) {
  const uint tid = gl_LocalInvocationID.x;
  const bool fp8 = pc.kv_format == MLA_FORMAT_FP8_ROPE640;
  const uint row_uvec4 = fp8 ? MLA_VK_FP8_ROW_UVEC4 : MLA_VK_BF16_ROW_UVEC4;
  const uint rope_at = fp8 ? MLA_VK_FP8_CONTENT_UVEC4 : MLA_DIM_CONTENT / 8;  // first rope chunk of a row
  uint ec = 0u, er = 0u;
  UNROLL for (uint j = 0u; j < LD; ++j) {
    const uint idx = tid + j * T;
    if (idx < N * row_uvec4) {
      const uint e = bf16x8_exp(g_regs[j]);
      if (idx % row_uvec4 >= rope_at) er = max(er, e);
      else if (!fp8) ec = max(ec, e);  // E4M3 content needs no scaling (|x| <= 448, exact in FP16)
    }
  }
  const uint es = fp8 && tid < nk ? f32_exp(g_reg_sk) : 0u;
  publish_max(ec, W_EXPKC);
  publish_max(er, W_EXPKR);
  publish_max(es, W_EXPSIG);
}
#endif  // MLA_CM_SCAN_FAST

// g_regs -> sK[buf ...] as FP16, content * 2^-eKc, rope * 2^-eKr; sigma_k ->
// sKs[ks ...]. Invocation `tid` of `stride` (as publish_exponents).
void stage_tile_f16_at(uint tid, uint stride, uint buf, uint ks, int eKc, int eKr) {
  const float sc = pow2(-eKc), sr = pow2(-eKr);
  if (pc.kv_format == MLA_FORMAT_FP8_ROPE640) {
    UNROLL for (uint j = 0u; j < LD; ++j) {
      const uint idx = tid + j * stride;
      if (idx < N * MLA_VK_FP8_ROW_UVEC4) {
        const uvec4 r = g_regs[j];
        const uint n = idx / MLA_VK_FP8_ROW_UVEC4, w = idx % MLA_VK_FP8_ROW_UVEC4;
        if (w < MLA_VK_FP8_CONTENT_UVEC4) {  // 16 e4m3 codes -> 2 uvec4 of FP16
          sK[buf + n * KP + 2u * w] = uvec4(f32x4_to_f16(fp8x4(r.x) * sc), f32x4_to_f16(fp8x4(r.y) * sc));
          sK[buf + n * KP + 2u * w + 1u] = uvec4(f32x4_to_f16(fp8x4(r.z) * sc), f32x4_to_f16(fp8x4(r.w) * sc));
        } else {  // 8 BF16 rope values
          sK[buf + n * KP + MLA_DIM_CONTENT / 8 + (w - MLA_VK_FP8_CONTENT_UVEC4)] = bf16x8_to_f16(r, sr);
        }
      }
    }
  } else {
#if CM_WHOLE_CHUNKS
    // Every chunk lies in the tile: no guard, no division a chunk.
    TileChunk c = chunk_first(tid);
    UNROLL for (uint j = 0u; j < LD; ++j) {
      sK[buf + c.row * KP + c.col] = bf16x8_to_f16(g_regs[j], c.col < MLA_DIM_CONTENT / 8 ? sc : sr);
      chunk_next(c, stride);
    }
#else
    UNROLL for (uint j = 0u; j < LD; ++j) {
      const uint idx = tid + j * stride;
      if (idx < N * MLA_VK_BF16_ROW_UVEC4) {
        const uint w = idx % MLA_VK_BF16_ROW_UVEC4;
        sK[buf + (idx / MLA_VK_BF16_ROW_UVEC4) * KP + w] = bf16x8_to_f16(g_regs[j], w < MLA_DIM_CONTENT / 8 ? sc : sr);
      }
    }
#endif
  }
  if (tid < N) sKs[ks + tid] = g_reg_sk;
}
void stage_tile_f16(int eKc, int eKr) { stage_tile_f16_at(gl_LocalInvocationID.x, T, 0u, 0u, eKc, eKr); }

// Q rows [16 rg2, 16 rg2 + 16) of the workgroup -> sK rows 0..15 as FP16 *
// 2^-eQ (eQ per row); rows past row_end are zeros. Every invocation calls
// it (barriers); invocations 0..127 work: 8 per row, 72 dims each.
void stage_q(uint rg2, uint inv, int row0, int row_end) {
  const uint r = (inv >> 3) & 15u, part = inv & 7u;
  const int rr = row0 + int(rg2 * 16u + r);
  const bool work = inv < 128u;
  const bool live = work && rr < row_end;
  const uint qrow = live ? q_row_of(rr) : 0u;
  if (live) {
    uint E = 0u;
    for (uint d = 72u * part; d < 72u * part + 72u; ++d) E = max(E, f32_exp(q_value(qrow, d)));
    atomicMax(sQe[rg2 * 16u + r], E);
  }
  WG_SYNC();
  if (work) {
    const float sc = pow2(-exp_for(sQe[rg2 * 16u + r]));
    for (uint t = 0u; t < 36u; ++t) {
      const uint d = 72u * part + 2u * t;
      const uint h = live ? packHalf2x16(vec2(q_value(qrow, d), q_value(qrow, d + 1u)) * sc) : 0u;
      const uint word = 36u * part + t;  // 32-bit word of the 288 of the row
      sK[r * KP + (word >> 2)][word & 3u] = h;
    }
  }
  WG_SYNC();
}

// The rare path: every non-finite FP16 of the V rows of the key tile at
// sK[buf ...] becomes 0 and the keys that had one are flagged in sWord[W_BAD].
void sanitize_v_at(uint inv, uint buf) {
  for (uint i = inv; i < N * (MLA_DIM_V / 8); i += T) {
    const uint n = i / (MLA_DIM_V / 8), at = buf + n * KP + i % (MLA_DIM_V / 8);
    uvec4 u = sK[at];
    bool found = false;
    UNROLL for (uint c = 0u; c < 4u; ++c) {
      const bool lo = (u[c] & 0x7C00u) == 0x7C00u, hi = (u[c] & 0x7C000000u) == 0x7C000000u;
      found = found || lo || hi;
      u[c] &= (lo ? 0xFFFF0000u : 0xFFFFFFFFu) & (hi ? 0x0000FFFFu : 0xFFFFFFFFu);
    }
    if (found) {
      sK[at] = u;
      atomicOr(sWord[W_BAD], 1u << n);
    }
  }
}
void sanitize_v(uint inv) { sanitize_v_at(inv, 0u); }

bool nonfinite(float x) { return (floatBitsToUint(x) & 0x7F800000u) == 0x7F800000u; }

#include "decode_cm_phases.glsl"

#ifdef MLA_CM_PRODUCER
#include "decode_cm_pw.glsl"
#else
void main() {
  CM_MAIN_IDS
#ifdef MLA_CM_PROFILE
  prof_begin(sg);
#endif
  CM_MAIN_ITEM

  load_fp8_table();
  if (inv < 8u) sWord[inv] = 0u;
  for (uint i = inv; i < uint(G); i += T) sQe[i] = 0u;
#ifdef MLA_CM_PROFILE
  prof_clear(inv);
#endif
  WG_SYNC();

  CM_MAIN_ROLES

  if (p_begin < p_end) fetch_tile(p_begin, min(uint(N), p_end - p_begin));

  CM_MAIN_Q_FRAGMENTS
  const int eQ = exp_for(sQe[g]);

  if (p_begin < p_end) publish_tile_exponents(min(uint(N), p_end - p_begin));
  WG_SYNC();

  CM_MAIN_O_INIT
  PROF_MARK(MLA_VK_PROF_PROLOGUE);

  for (uint k0 = p_begin; k0 < p_end; k0 += N) {
    const uint nk = min(uint(N), p_end - k0);
    const int eKc = fp8_kv ? 0 : exp_for(sWord[W_EXPKC]), eKr = exp_for(sWord[W_EXPKR]);
    const int eP = fp8_kv ? exp_for(sWord[W_EXPSIG]) : -14;
    stage_tile_f16(eKc, eKr);
    if (inv == 0u) {
      sWord[W_FLAG] = 0u;
      sWord[W_BAD] = 0u;
    }
    PROF_MARK(MLA_VK_PROF_STAGE);
    if (k0 + N < p_end) fetch_tile(k0 + N, min(uint(N), p_end - k0 - N));
    PROF_MARK(MLA_VK_PROF_FETCH);
    WG_SYNC();
    PROF_MARK(MLA_VK_PROF_BAR1);
    if (inv == 0u) {  // everyone has read them; the next tile's are published after the next barrier
      sWord[W_EXPKC] = 0u;
      sWord[W_EXPKR] = 0u;
      sWord[W_EXPSIG] = 0u;
    }

    CM_TILE_S
    PROF_MARK(MLA_VK_PROF_S);
    WG_SYNC();
    if (sWord[W_FLAG] != 0u) {
      sanitize_v(inv);
      WG_SYNC();
    }
    PROF_MARK(MLA_VK_PROF_BAR2);

    {
      CM_SOFTMAX_DECLS
      CM_SOFTMAX_LOGITS
      const float m_new = max(m_run, row8_max(tile_max, inv));
      const float corr = m_run == MLA_NEG_INF ? 0.0 : exp2(m_run - m_new);
      const float p_scale = pow2(-eP);
      float p_sum = 0.0;
      float pq[KPT];
      CM_SOFTMAX_P
      group_sync();  // every invocation of the row has read its partials
      CM_SOFTMAX_STORE
    }
    PROF_MARK(MLA_VK_PROF_SOFTMAX);
    WG_SYNC();
    PROF_MARK(MLA_VK_PROF_BAR3);

    CM_TILE_PV
    PROF_MARK(MLA_VK_PROF_PV);
#ifdef MLA_CM_PROFILE
    if (k0 + N < p_end) prof_wait_fetch();
    PROF_MARK(MLA_VK_PROF_WAIT);
#endif
    if (k0 + N < p_end) publish_tile_exponents(min(uint(N), p_end - k0 - N));
    PROF_MARK(MLA_VK_PROF_SCAN);
    WG_SYNC();
    PROF_MARK(MLA_VK_PROF_BAR4);
  }
#ifdef MLA_CM_PROFILE
  prof_flush(lane);
  WG_SYNC();  // the epilogue may reuse the slots' words
#endif

  CM_MAIN_EPILOGUE
#ifdef MLA_CM_PROFILE
  prof_finish(lane, inv, (p_end - p_begin + uint(N) - 1u) / uint(N), uint(row_end - row0), 0u);
#endif
}
#endif  // MLA_CM_PRODUCER
