/*
 * shader_interface.h - what the Vulkan host code and the GLSL shaders must
 * agree on: descriptor bindings, push constants, the tiling of the decode
 * pass and its shared-memory size, and the layout of the workspace.
 *
 * Included from C++ (vulkan/src) and from GLSL (glslc with
 * GL_GOOGLE_include_directive), so outside the __cplusplus block it holds only
 * preprocessor definitions.
 */
#ifndef MLA_VK_SHADER_INTERFACE_H
#define MLA_VK_SHADER_INTERFACE_H

#include "mla/constants.h"

/* ---- Descriptor set 0 (pushed with VK_KHR_push_descriptor), one layout for
 * every pass; all bindings are storage buffers. ---- */
#define MLA_VK_BIND_Q 0           /* [total_q, H] rows, read as 32-bit words */
#define MLA_VK_BIND_Q_SCALES 1    /* float [total_q], fp8 Q only */
#define MLA_VK_BIND_KV 2          /* [num_pages, page_size] rows, read as uvec4 */
#define MLA_VK_BIND_KV_SCALES 3   /* float [num_pages * page_size], fp8 KV only */
#define MLA_VK_BIND_PAGE_TABLE 4  /* int [B, max_pages] */
#define MLA_VK_BIND_Q_OFFSETS 5   /* int [B + 1] */
#define MLA_VK_BIND_KV_LENS 6     /* int [B] */
#define MLA_VK_BIND_OUT 7         /* BF16 [total_q, H, 512], written as uvec2 (4 values) */
#define MLA_VK_BIND_LSE 8         /* float [total_q, H] */
#define MLA_VK_BIND_STATUS 9      /* uint [1 + B]: [0] OR of all, [1 + b] request b */
#define MLA_VK_BIND_META 10       /* workspace: header, request info, item offsets */
#define MLA_VK_BIND_PART_LSE 11   /* workspace: split partial LSE (log2 domain) */
#define MLA_VK_BIND_PART_OUT 12   /* workspace: split partial outputs (fp32) */
#define MLA_VK_BIND_FP8_TABLE 13  /* float [256]: the e4m3 values, owned by the context */
#define MLA_VK_NUM_BINDINGS 14
/* Only in contexts with the coopmat clock profile (MLA_VULKAN_CM_PROFILE=1):
 * uint [MLA_VK_PROF_WORDS], the context's host-visible profile buffer. */
#define MLA_VK_BIND_PROFILE 14

/* ---- Decode tiling ----
 * A workgroup owns G query rows (row r = i * H + h of one request) and walks
 * a partition of the request's keys in tiles of N keys. Each key tile is
 * staged once into shared memory as fp32 (BF16 and FP8 decoded once per
 * workgroup, not once per head).
 * Q.K: thread (g = tid % G, s = tid / G) keeps dims [36 s, 36 s + 36) of row
 * g in registers; the 16 partial dots of a (row, key) pair are summed in
 * shared memory in a fixed order (deterministic, no subgroup operations, so
 * any subgroup size works). P.V: each thread owns 4-column quads of the
 * 512 output columns for a block of rows. */
#define MLA_VK_SLICES 16                      /* threads per query row in Q.K */
#define MLA_VK_SLICE_VEC4 9                   /* 36 dims = 9 vec4 per thread */
#define MLA_VK_ROW_VEC4 144                   /* 576 fp32 of a staged key row */
#define MLA_VK_BF16_ROW_UVEC4 72              /* 1152-byte row as uvec4 */
#define MLA_VK_FP8_ROW_UVEC4 40               /* 640-byte row as uvec4 */
#define MLA_VK_FP8_CONTENT_UVEC4 32           /* the 512 e4m3 bytes of a row */
#define MLA_VK_BF16_ROW_WORDS 288
#define MLA_VK_FP8_ROW_WORDS 160
#define MLA_VK_OUT_ROW_UVEC2 128              /* 512 BF16 of an output row */
#define MLA_VK_DECODE_THREADS(G) ((G) * MLA_VK_SLICES)
/* Keys whose Q.K partials are reduced at once (QB; bounds the partial
 * buffer): the whole tile up to 8 keys, two batches of 8 for N = 16. The
 * batching only groups the same sums (same bits); a build variant with QB =
 * N / 2 at N = 8 lets lavapipe test the two-batch path of N = 16. */
#define MLA_VK_QK_BATCH(N) ((N) < 8 ? (N) : 8)
/* Shared memory of the decode pass in bytes; decode.comp declares exactly these
 * arrays (K tile, partials / P, logits, key scales, 3 per-row values, FP8 table). */
#define MLA_VK_DECODE_SMEM_FLOATS(G, N, QB) \
  ((N) * 576 + (QB) * MLA_VK_SLICES * (G) + (G) * (N) + (N) + 3 * (G) + 256)
#define MLA_VK_DECODE_SMEM_BYTES(G, N, QB) (4 * MLA_VK_DECODE_SMEM_FLOATS(G, N, QB))

/* ---- Cooperative-matrix decode (decode_cm.comp) ----
 * A workgroup owns RG row groups of 16 query rows (G = 16 RG rows of one
 * request) and walks a partition in tiles of N keys (16 or 32); 4 subgroups
 * of 32 invocations per row group. The key tile is staged once as FP16
 * (scaled by a power of two per tile) with a row pitch of 73 uvec4 (576
 * halfs + 16 bytes of padding against bank conflicts). S partials: 4 per
 * (row, key) (the subgroups split the 576 dims in quarters), fp32, row pitch
 * N + 4 floats; P (FP16) and the per-row rescale matrix are written over
 * partials 0 and 1 once their row has read them. */
#define MLA_VK_CM_SUBGROUP 32                 /* invocations per subgroup, required */
#define MLA_VK_CM_THREADS(RG) ((RG) * 4 * MLA_VK_CM_SUBGROUP)
#define MLA_VK_CM_KPITCH 73                   /* uvec4 per staged key / Q row */
#define MLA_VK_CM_SPITCH(N) ((N) / 4 + 1)     /* uvec4 per row of an S partial */
/* Shared memory in bytes; decode_cm.comp declares exactly these arrays:
 * sK [N][73] uvec4, sS [RG][4][16][SPITCH] uvec4, 32-bit sKs[N], sFp8[256],
 * sRowTmp[16 RG][8], sQe[16 RG], sRowL[16 RG], sWord[8]. */
#define MLA_VK_CM_SMEM_BYTES(RG, N)                                                   \
  (16 * ((N) * MLA_VK_CM_KPITCH + (RG) * 4 * 16 * MLA_VK_CM_SPITCH(N)) +              \
   4 * ((N) + 256 + (RG) * 16 * 8 + 2 * (RG) * 16 + 8))
/* ...plus, in the emulated clock-profile builds (MLA_CM_EMULATE and
 * MLA_CM_PROFILE), sProf: a uint per subgroup and phase (MLA_VK_PROF_PHASES,
 * below); the native ones keep those in the words of sRowTmp (same size). */
#define MLA_VK_CM_PROF_SMEM_BYTES(RG) (4 * (RG) * 4 * MLA_VK_PROF_PHASES)
/* Producer-warp build (decode_cm.comp MLA_CM_PRODUCER, MLA_VULKAN_CM_WARPS=producer,
 * vulkan/README.md "Producer warps (plan step 2)"): the 4 RG consumer subgroups of
 * the default layout plus MLA_VK_CM_PW_WARPS producer subgroups that fetch, scan
 * and stage the key tiles; BUFS (1 or 2) FP16 key tiles in shared memory
 * (sK [BUFS][N][73], sKs [BUFS][N]) and sWord[16] (three exponent slots). */
#define MLA_VK_CM_PW_WARPS 4
#define MLA_VK_CM_PW_PRODUCER_THREADS (MLA_VK_CM_PW_WARPS * MLA_VK_CM_SUBGROUP)
#define MLA_VK_CM_PW_THREADS(RG) (MLA_VK_CM_THREADS(RG) + MLA_VK_CM_PW_PRODUCER_THREADS)
/* ...plus, in its emulated clock-profile builds, sProf for all its subgroups. */
#define MLA_VK_CM_PW_PROF_SMEM_BYTES(RG) (4 * ((RG) * 4 + MLA_VK_CM_PW_WARPS) * MLA_VK_PROF_PHASES)
#define MLA_VK_CM_PW_SMEM_BYTES(RG, N, BUFS)                                          \
  (16 * ((BUFS) * (N) * MLA_VK_CM_KPITCH + (RG) * 4 * 16 * MLA_VK_CM_SPITCH(N)) +     \
   4 * ((BUFS) * (N) + 256 + (RG) * 16 * 8 + 2 * (RG) * 16 + 16))

/* ---- Clock profile of the coopmat decode (decode_cm.comp MLA_CM_PROFILE) ----
 * Workgroup 0 of the dispatch writes, as 32-bit words: a header, then per
 * subgroup of 32 (warp) w < MLA_VK_PROF_W_WARPS the cycles (subgroup clock,
 * sums mod 2^32) of each phase p at MLA_VK_PROF_HEADER + w * PHASES + p.
 * The phases in program order of a tile (the loop ones are summed over the
 * tiles); they telescope: their sum is the warp's time in main. */
#define MLA_VK_PROF_PROLOGUE 0  /* main's start (plan lookup, Q staging, first fetch and scan) to the loop */
#define MLA_VK_PROF_STAGE 1     /* tile: BF16 / E4M3 -> scaled FP16 into sK (the fetched registers, already waited for) */
#define MLA_VK_PROF_FETCH 2     /* tile: issue of the next tile's loads (fetch_tile) */
#define MLA_VK_PROF_BAR1 3      /* tile: barrier 1 (sK staged) */
#define MLA_VK_PROF_S 4         /* tile: S = Q.K (HMMA), scale, non-finite check, store of the partials */
#define MLA_VK_PROF_BAR2 5      /* tile: barrier 2, W_FLAG read (and the rare sanitize + its barrier) */
#define MLA_VK_PROF_SOFTMAX 6   /* tile: softmax on 8 lanes a row, P / rescale stores */
#define MLA_VK_PROF_BAR3 7      /* tile: barrier 3 */
#define MLA_VK_PROF_PV 8        /* tile: O rescale + P.V (HMMA) */
#define MLA_VK_PROF_WAIT 9      /* tile: first use of the next tile's registers (waits for its loads) */
#define MLA_VK_PROF_SCAN 10     /* tile: exponent scan of the next tile, subgroupMax, shared atomics */
#define MLA_VK_PROF_BAR4 11     /* tile: barrier 4 */
#define MLA_VK_PROF_EPILOGUE 12 /* after the loop: row sums, O / l, output and LSE stores */
#define MLA_VK_PROF_PHASES 13
#define MLA_VK_PROF_W_MAGIC 0   /* MLA_VK_PROF_MAGIC once written (0: workgroup 0 had no work) */
#define MLA_VK_PROF_W_WARPS 1   /* subgroups of 32 of the workgroup */
#define MLA_VK_PROF_W_TILES 2   /* key tiles of its partition */
#define MLA_VK_PROF_W_KEYS 3    /* keys per tile (N) */
#define MLA_VK_PROF_W_ROWS 4    /* live query rows of its item */
#define MLA_VK_PROF_W_SINK 5    /* the wait phase's register fold (meaningless; keeps it alive) */
#define MLA_VK_PROF_W_PRODUCER 6 /* the producer-warp build's key tiles (1 or 2; 0: the default main) */
#define MLA_VK_PROF_HEADER 8
#define MLA_VK_PROF_MAGIC 0x50524F46u /* "PROF" */
#define MLA_VK_PROF_MAX_WARPS 16  /* 4 row groups x 4 subgroups */
#define MLA_VK_PROF_WORDS (MLA_VK_PROF_HEADER + MLA_VK_PROF_MAX_WARPS * MLA_VK_PROF_PHASES)

/* ---- Other passes ---- */
#define MLA_VK_PAGES_THREADS 128    /* page-id check: one page-table entry per thread */
#define MLA_VK_PAGES_MAX_GROUPS 4096
#define MLA_VK_PLAN_THREADS 128     /* plan: one workgroup scans the whole batch */
#define MLA_VK_COMBINE_THREADS 128  /* combine: one output row, a quad per thread */
#define MLA_VK_COPY_THREADS 128     /* copy probe: 16 bytes per thread per step */
#define MLA_VK_MAX_GROUPS_X 65535   /* indirect dispatches fold item ids into (x, y) */

/* ---- Split-K ---- */
#define MLA_VK_SPLIT_AUTO 0       /* split_count = the host's per-request cap */
#define MLA_VK_SPLIT_EXPLICIT 1   /* split_count = ProblemDesc::num_splits */
#define MLA_VK_SPLIT_INVARIANT 2  /* partitions from invariant_chunk(kv_len) */
/* The automatic mode does not cut a request into partitions shorter than this
 * (a partition's partial output costs 2 KiB per row to write and re-read). */
#define MLA_VK_MIN_SPLIT_KEYS 256

/* ---- Workspace "meta" binding, in 32-bit words ----
 * [0..2]  indirect dispatch of decode, [4..6] of combine,
 * [8] decode items, [9] combine rows,
 * then B request records of MLA_VK_INFO_WORDS, then decode item offsets
 * [B + 1], then combine row offsets [B + 1] (exclusive prefix sums). */
#define MLA_VK_META_DECODE_ARGS 0
#define MLA_VK_META_COMBINE_ARGS 4
#define MLA_VK_META_DECODE_TOTAL 8
#define MLA_VK_META_COMBINE_TOTAL 9
#define MLA_VK_META_HEADER_WORDS 16
#define MLA_VK_INFO_WORDS 8
#define MLA_VK_INFO_Q_BEGIN 0   /* first query token (q_offsets[b]) */
#define MLA_VK_INFO_Q_LEN 1     /* query tokens whose rows the request owns */
#define MLA_VK_INFO_KV_LEN 2
#define MLA_VK_INFO_NSPLIT 3    /* partitions; 0 marks a faulty request (rows -> 0, LSE NaN) */
#define MLA_VK_INFO_KEY_BEGIN 4 /* request_keys() range */
#define MLA_VK_INFO_KEY_END 5
#define MLA_VK_INFO_ORIGIN 6    /* partition s = [origin + s * chunk, + chunk) clipped to the range */
#define MLA_VK_INFO_CHUNK 7
#define MLA_VK_META_INFO(b) (MLA_VK_META_HEADER_WORDS + (b) * MLA_VK_INFO_WORDS)
#define MLA_VK_META_DECODE_OFF(B) (MLA_VK_META_HEADER_WORDS + (B) * MLA_VK_INFO_WORDS)
#define MLA_VK_META_COMBINE_OFF(B) (MLA_VK_META_DECODE_OFF(B) + (B) + 1)
#define MLA_VK_META_WORDS(B) (MLA_VK_META_COMBINE_OFF(B) + (B) + 1)

/* ---- Push constants (one block for every pass) ----
 * Declared once as a field list; C++ and GLSL expand it into a struct / block. */
#define MLA_VK_PUSH_FIELDS          \
  MLA_VK_INT(batch)                 \
  MLA_VK_INT(num_heads)             \
  MLA_VK_INT(total_q)               \
  MLA_VK_INT(q_format)              \
  MLA_VK_INT(kv_format)             \
  MLA_VK_INT(mask)                  \
  MLA_VK_INT(window)                \
  MLA_VK_INT(chunk)                 \
  MLA_VK_FLOAT(scale_log2)          \
  MLA_VK_INT(page_size)             \
  MLA_VK_INT(page_shift)            \
  MLA_VK_INT(num_pages)             \
  MLA_VK_INT(max_pages)             \
  MLA_VK_INT(split_mode)            \
  MLA_VK_INT(split_count)           \
  MLA_VK_INT(split_slots)           \
  MLA_VK_INT(rows_per_group)        \
  MLA_VK_INT(key_tile)              \
  MLA_VK_INT(copy_vec4)
#define MLA_VK_PUSH_FIELD_COUNT 19

#ifdef __cplusplus
#include <cstdint>
namespace mla::vulkan_impl {
#define MLA_VK_INT(name) int32_t name;
#define MLA_VK_FLOAT(name) float name;
struct PushConstants {
  MLA_VK_PUSH_FIELDS
};
#undef MLA_VK_INT
#undef MLA_VK_FLOAT
static_assert(sizeof(PushConstants) == 4 * MLA_VK_PUSH_FIELD_COUNT, "push constants are 32-bit fields");
static_assert(sizeof(PushConstants) <= 128, "Vulkan guarantees 128 bytes of push constants");
}  // namespace mla::vulkan_impl
#endif

#endif /* MLA_VK_SHADER_INTERFACE_H */
