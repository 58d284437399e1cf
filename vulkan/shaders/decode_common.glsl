// decode_common.glsl - what the two decode passes share (decode.comp, the
// scalar FP32 one, and decode_cm.comp, the cooperative-matrix one): the
// bindings, the request / partition of a workgroup's item, the page lookup,
// the register prefetch of a key tile, Q and FP8 decoding, fault rows and
// the output / LSE stores.
//
// Include after defining N (keys per tile), T (threads) and LD (16-byte
// loads per thread per tile, enough for a BF16 tile of N keys).
#ifndef MLA_VK_DECODE_COMMON_GLSL
#define MLA_VK_DECODE_COMMON_GLSL

#include "common.glsl"

#if !defined(N) || !defined(T) || !defined(LD)
#error "define N, T and LD before including decode_common.glsl"
#endif
// Loops of constant trip count are unrolled in the SPIR-V itself, so small
// per-thread arrays (prefetched words, accumulators) become registers on
// every driver instead of depending on its unrolling heuristics (needs
// GL_EXT_control_flow_attributes).
#ifndef UNROLL
#define UNROLL [[unroll]]
#endif

layout(std430, set = 0, binding = MLA_VK_BIND_Q) readonly buffer QWords { uint q_words[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_Q_SCALES) readonly buffer QScales { float q_scales[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_KV) readonly buffer KvPool { uvec4 kv_pool[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_KV_SCALES) readonly buffer KvScales { float kv_scales[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_PAGE_TABLE) readonly buffer PageTable { int page_table[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_OUT) writeonly buffer Out { uvec2 out_bf16[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_LSE) writeonly buffer Lse { float lse_out[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_META) readonly buffer Meta { uint meta[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_PART_LSE) writeonly buffer PartLse { float part_lse[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_PART_OUT) writeonly buffer PartOut { vec4 part_out[]; };
// Exact e4m3 values (mla::fp8_e4m3_table), copied to shared memory: decoding
// by lookup keeps subnormals exact on drivers that flush denormals.
layout(std430, set = 0, binding = MLA_VK_BIND_FP8_TABLE) readonly buffer Fp8Table { float fp8_table[256]; };

#include "find_request.glsl"

// Workgroup synchronisation of the decode passes: barrier() alone. glslang
// emits it as OpControlBarrier Workgroup, Workgroup, AcquireRelease |
// WorkgroupMemory (0x108) in both memory models (checked in the SPIR-V of
// decode_g16_n16_r2 and decode_cm_r1_n32): a workgroup-scope release/acquire
// of shared memory, which is all these passes need. memoryBarrierShared()
// before it, the earlier form, adds an OpMemoryBarrier at Device
// (QueueFamily) scope: redundant, and no faster on the H200 (vulkan/README.md
// "Speed at H=16").
#define WG_SYNC() barrier()

shared float sFp8[256];

// The request this workgroup serves (uniform).
uint g_req;
int g_q_begin, g_q_len, g_kv_len;

// The work of one workgroup: request rows [row0, row_end) against the keys
// [p_begin, p_end) of partition `split` of `nsplit`.
struct DecodeItem {
  int row0, row_end;
  uint nsplit, split;
  uint p_begin, p_end;
};

// Output rows [row0, row_end) of a request that failed the device checks: 0 and NaN.
void write_fault_rows(int row0, int row_end) {
  const uint tid = gl_LocalInvocationID.x;
  const uint first = uint(g_q_begin * pc.num_heads + row0), count = uint(row_end - row0);
  for (uint i = tid; i < count * MLA_VK_OUT_ROW_UVEC2; i += T) out_bf16[first * MLA_VK_OUT_ROW_UVEC2 + i] = uvec2(0u);
  if (tid < count) lse_out[first + tid] = MLA_NAN;
}

// Finds this workgroup's item (groups of `rows_per_group` rows) and sets
// g_req, g_q_begin, g_q_len, g_kv_len. False (uniform) when there is no
// attention to compute: no item, or a faulty request whose rows it has
// written as 0 / NaN.
bool begin_item(int rows_per_group, out DecodeItem it) {
  it = DecodeItem(0, 0, 0u, 0u, 0u, 0u);
  const uint item = folded_workgroup_id();
  if (item >= meta[MLA_VK_META_DECODE_TOTAL]) return false;
  g_req = find_request(item, MLA_VK_META_DECODE_OFF(uint(pc.batch)));
  const uint ib = MLA_VK_META_INFO(g_req);
  g_q_begin = int(meta[ib + MLA_VK_INFO_Q_BEGIN]);
  g_q_len = int(meta[ib + MLA_VK_INFO_Q_LEN]);
  g_kv_len = int(meta[ib + MLA_VK_INFO_KV_LEN]);
  it.nsplit = meta[ib + MLA_VK_INFO_NSPLIT];
  const int rows = g_q_len * pc.num_heads;
  const uint groups = uint((rows + rows_per_group - 1) / rows_per_group);
  const uint local_item = item - meta[MLA_VK_META_DECODE_OFF(uint(pc.batch)) + g_req];
  it.row0 = int(local_item % groups) * rows_per_group;
  it.row_end = min(it.row0 + rows_per_group, rows);
  if (it.nsplit == 0u) {
    write_fault_rows(it.row0, it.row_end);
    return false;
  }
  it.split = local_item / groups;
  const uint key_begin = meta[ib + MLA_VK_INFO_KEY_BEGIN], key_end = meta[ib + MLA_VK_INFO_KEY_END];
  const uint origin = meta[ib + MLA_VK_INFO_ORIGIN], chunk = meta[ib + MLA_VK_INFO_CHUNK];
  it.p_begin = max(key_begin, origin + it.split * chunk);
  it.p_end = min(key_end, origin + (it.split + 1u) * chunk);
  return true;
}

// The e4m3 table into shared memory (the caller puts a barrier after it).
void load_fp8_table() {
  for (uint i = gl_LocalInvocationID.x; i < 256u; i += T) sFp8[i] = fp8_table[i];
}

// Pool slot of key `key` of the request, or ~0u for a page id outside the
// pool (plan.comp has already failed such a request; this is the guard that
// keeps the read in bounds whatever the table says).
uint key_slot(uint key) {
  const int page = page_table[g_req * uint(pc.max_pages) + (key >> pc.page_shift)];
  if (page < 0 || page >= pc.num_pages) return 0xFFFFFFFFu;
  return uint(page) * uint(pc.page_size) + (key & uint(pc.page_size - 1));
}

// The next tile's words, fetched while the current tile is computed.
uvec4 g_regs[LD];
float g_reg_sk;

#if defined(MLA_FETCH_RUN)
// The page-table entry g_pt of page index g_pt_idx of this request (~0u:
// none yet), loaded one tile before the fetch that uses it.
uint g_pt_idx = 0xFFFFFFFFu;
int g_pt = 0;
#endif

// Fetch keys [k0, k0 + nk) into g_regs: chunk idx = tid + j * T of the tile
// (consecutive threads on consecutive 16 bytes of a row); keys past nk read
// as zeros. g_reg_sk: sigma_k of key tid (FP8 KV; 1 otherwise).
//
// Builds (same words, same results; MLA_VULKAN_FETCH selects the module):
//  * MLA_FETCH_RUN ("run", the default modules): a tile inside one page
//    (any page >= N keys, tiles aligned) is one run of nk consecutive rows:
//    the KV loads take base + idx from a page-table entry loaded during the
//    previous fetch (no dependent load, no division); a tile across pages
//    takes the chunk path (H200: -16 % FP32, -30 % coopmat, same bits);
//  * no define ("chunk", *_fc modules, for comparison): every chunk looks
//    up its key's page (a page-table load, a range check, a run-time
//    division by the row size) and loads behind that check: per chunk a
//    dependent global load before its KV load can issue;
//  * MLA_FETCH_NONE ("none", diagnostic only, wrong results): no global
//    load at all, finite made-up BF16 / E4M3 words: the time of everything
//    but the fetch.
// FETCH_TID / FETCH_T: the invocation index and count of the fetching
// invocations (default: the whole workgroup; decode_cm.comp MLA_CM_PRODUCER:
// its producer subgroups).
#ifndef FETCH_TID
#define FETCH_TID gl_LocalInvocationID.x
#endif
#ifndef FETCH_T
#define FETCH_T T
#endif
void fetch_tile(uint k0, uint nk) {
  const uint tid = FETCH_TID;
  const bool fp8 = pc.kv_format == MLA_FORMAT_FP8_ROPE640;
  const uint row_uvec4 = fp8 ? MLA_VK_FP8_ROW_UVEC4 : MLA_VK_BF16_ROW_UVEC4;
#if defined(MLA_FETCH_NONE)
  UNROLL for (uint j = 0u; j < LD; ++j) g_regs[j] = uvec4(((tid + j * FETCH_T + k0) & 0x3Fu) * 0x00010001u + 0x3C003C00u);
  g_reg_sk = 1.0;
#else
#if defined(MLA_FETCH_RUN)
  const uint shift = uint(pc.page_shift), pi = k0 >> shift;
  if (pi == ((k0 + nk - 1u) >> shift)) {  // uniform
    const uint pt_row = g_req * uint(pc.max_pages);
    if (pi != g_pt_idx) {  // the first tile, or a tile the previous fetch did not look up
      g_pt = page_table[pt_row + pi];
      g_pt_idx = pi;
    }
    const bool ok = g_pt >= 0 && g_pt < pc.num_pages;  // uniform
    const uint slot0 = uint(g_pt) * uint(pc.page_size) + (k0 & uint(pc.page_size - 1));
    const uint base = slot0 * row_uvec4, end = nk * row_uvec4;
    UNROLL for (uint j = 0u; j < LD; ++j) {
      const uint idx = tid + j * FETCH_T;
      g_regs[j] = uvec4(0u);
      if (ok && idx < end) g_regs[j] = kv_pool[base + idx];
    }
    g_reg_sk = 1.0;
    if (fp8 && ok && tid < nk) g_reg_sk = kv_scales[slot0 + tid];
    // The page of the next tile, for the next fetch (its latency hides behind this tile).
    const uint ni = (k0 + uint(N)) >> shift;
    if (ni != pi && ni < uint(pc.max_pages)) {
      g_pt = page_table[pt_row + ni];
      g_pt_idx = ni;
    }
    return;
  }
#endif
  UNROLL for (uint j = 0u; j < LD; ++j) {
    const uint idx = tid + j * FETCH_T;
    const uint n = idx / row_uvec4;
    g_regs[j] = uvec4(0u);
    if (n < nk) {
      const uint slot = key_slot(k0 + n);
      if (slot != 0xFFFFFFFFu) g_regs[j] = kv_pool[slot * row_uvec4 + idx % row_uvec4];
    }
  }
  g_reg_sk = 1.0;
  if (fp8 && tid < nk) {
    const uint slot = key_slot(k0 + tid);
    if (slot != 0xFFFFFFFFu) g_reg_sk = kv_scales[slot];
  }
#endif  // MLA_FETCH_NONE
}

// Four e4m3 codes of a little-endian word, by the table.
vec4 fp8x4(uint x) { return vec4(sFp8[x & 255u], sFp8[(x >> 8) & 255u], sFp8[(x >> 16) & 255u], sFp8[x >> 24]); }

// Dimension d of global Q row qrow, unscaled.
float q_value(uint qrow, uint d) {
  if (pc.q_format == MLA_FORMAT_FP8_ROPE640) {
    const uint base = qrow * MLA_VK_FP8_ROW_WORDS;
    if (d < MLA_DIM_CONTENT) return sFp8[(q_words[base + (d >> 2)] >> (8u * (d & 3u))) & 255u];
    const uint w = q_words[base + MLA_FP8_ROPE_BYTE_OFFSET / 4 + ((d - MLA_DIM_CONTENT) >> 1)];
    return (d & 1u) == 0u ? bf16_lo(w) : bf16_hi(w);
  }
  const uint w = q_words[qrow * MLA_VK_BF16_ROW_WORDS + (d >> 1)];
  return (d & 1u) == 0u ? bf16_lo(w) : bf16_hi(w);
}

// Global Q row of request row `row_in_req` (token row_in_req / H, head row_in_req % H).
uint q_row_of(int row_in_req) {
  const int H = pc.num_heads;
  return uint((g_q_begin + row_in_req / H) * H + row_in_req % H);
}

// Columns [4 quad, 4 quad + 4) of output row grow (= g_q_begin * H + request
// row): BF16 for a whole-request item, the fp32 partial of `split` otherwise.
void store_out_quad(uint grow, uint quad, vec4 o, uint nsplit, uint split) {
  if (nsplit == 1u) {
    out_bf16[grow * MLA_VK_OUT_ROW_UVEC2 + quad] = pack_bf16x4(o);
  } else {
    part_out[(grow * uint(pc.split_slots) + split) * MLA_VK_OUT_ROW_UVEC2 + quad] = o;
  }
}

// LSE of output row grow from the row's max m and sum l (log2 domain).
void store_lse(uint grow, float m, float l, uint nsplit, uint split) {
  const float lse2 = l == 0.0 ? MLA_NEG_INF : m + log2(l);
  if (nsplit == 1u) lse_out[grow] = l == 0.0 ? MLA_NEG_INF : float(lse2 * MLA_LN2);
  else part_lse[grow * uint(pc.split_slots) + split] = lse2;
}

#endif  // MLA_VK_DECODE_COMMON_GLSL
