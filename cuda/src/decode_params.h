// cuda/src/decode_params.h - what every CUDA decode kernel (portable sm_80/89
// and Hopper sm_90a) receives, and the schedule the planner writes for it.
//
// Included from .cu files only (device code). All pointers are device pointers.
//
// Rows. Within request b (q_len = q_offsets[b+1] - q_offsets[b] query tokens,
// H heads) the query rows are numbered r = i * H + h (token-major, so they are
// contiguous in Q, out and lse: global row = q_offsets[b] * H + r). A kernel
// works on an M tile of kBlockM consecutive rows of one request: tile m holds
// rows [m * kBlockM, min((m + 1) * kBlockM, q_len * H)). Different rows of a
// tile may belong to different tokens i = r / H and so see different keys.
//
// Work. The planner cuts the keys of each request into splits and lists them
// as work items; items are grouped into `num_parts` contiguous runs (parts),
// one run per CTA column. The decode grid is (num_parts, max_m_tiles): CTA
// (p, m) processes, for every item of part p, M tile m of the item's request
// against the item's keys (skipping the item when the request has fewer than
// m + 1 tiles). Work items never depend on the host: the planner fills them
// on the stream from the device-side q_offsets / kv_lens, so plan + decode can
// be captured in a CUDA graph and replayed with new lengths.
//
// Results. An item that covers all keys of its request (num_splits == 1)
// writes BF16 out and LSE directly. Otherwise it writes its partial result
// (fp32 output normalised by its own softmax sum, and its LSE) to the
// workspace rows starting at `partial_row`, and the combine kernel merges the
// num_splits slots of the request through their LSE.
#pragma once

#include <cstdint>

#include "mla/constants.h"

namespace mla::cuda_impl {

constexpr int kBlockM = 64;   // query rows (heads x tokens) per M tile: one wgmma M
constexpr int kBlockN = 64;   // keys per schedule block: split boundaries are multiples of it
                              // (in absolute key index), except at a request's own range ends

// One split of one request's keys.
struct WorkItem {
  int32_t request;       // b
  int32_t key_begin;     // first key (absolute index in the request)
  int32_t key_end;       // one past the last key; key_begin == key_end: empty split (still writes)
  int32_t split;         // index of this split within the request, 0..num_splits-1
  int32_t num_splits;    // splits of this request; 1: write out/lse directly
  int32_t partial_row;   // first workspace row of this split (see partial_out), -1 if num_splits == 1
};

// Per-request facts the planner derives once, read by decode and combine.
struct RequestInfo {
  int32_t q_begin;      // q_offsets[b]
  int32_t q_len;        // q_offsets[b+1] - q_offsets[b] (0 if the request is flagged bad)
  int32_t kv_len;       // kv_lens[b]
  int32_t num_splits;   // >= 1 when q_len > 0
  int32_t partial_row;  // workspace row of split 0, row r of split s is partial_row + s * q_len * H + r;
                        // -1 when num_splits == 1
  uint32_t status;      // MLA_STATUS_* bits for this request; nonzero: output 0, LSE NaN
  // Added by the CUDA backend (issue 4): query tokens whose rows are written
  // as 0 / NaN when status != 0 (0 when the request's rows are ill-defined,
  // e.g. q_offsets decreasing). Decode kernels never read it: a flagged
  // request has q_len == 0 and no work item; the combine kernel fills its rows.
  int32_t fault_q_len;
};

struct DecodeParams {
  // ---- problem (copied from ProblemDesc) ----
  int32_t batch;           // B
  int32_t num_heads;       // H
  int32_t total_q;         // rows of Q / out are total_q * H
  int32_t q_format;        // MLA_FORMAT_*
  int32_t kv_format;       // MLA_FORMAT_*
  int32_t mask;            // MLA_MASK_*
  int32_t window;          // sliding_window only
  int32_t chunk;           // chunked only
  float softmax_scale;     // multiplies Q.K
  float scale_log2;        // softmax_scale * log2(e): kernels use exp2
  int32_t page_size;       // power of two, 1..512
  int32_t page_shift;      // log2(page_size)
  int32_t num_pages;       // pages in the pool: a page id outside [0, num_pages) is flagged, never read
  int32_t max_pages;       // columns of page_table

  // ---- inputs ----
  const void* q;            // [total_q, H, 1152 | 640] bytes
  const float* q_scales;    // [total_q], fp8 Q only
  const void* kv_pool;      // [num_pages, page_size, 1152 | 640] bytes
  const float* kv_scales;   // [num_pages * page_size], fp8 KV only
  const int32_t* page_table;  // [B, max_pages]
  const int32_t* q_offsets;   // [B + 1]
  const int32_t* kv_lens;     // [B]

  // ---- outputs ----
  uint16_t* out;   // [total_q, H, 512] BF16
  float* lse;      // [total_q, H] natural log

  // ---- schedule (written by the planner on the stream) ----
  const RequestInfo* requests;  // [B]
  const WorkItem* items;        // [max_items]
  const int32_t* part_begin;    // [num_parts + 1]: items of part p are part_begin[p] .. part_begin[p+1]-1
  int32_t num_parts;            // grid.x of decode
  int32_t max_m_tiles;          // grid.y of decode: ceil(min(16, total_q) * H / kBlockM), host-known bound

  // ---- split-K workspace ----
  // Workspace row w = item.partial_row + r holds row r of one split:
  // partial_out[w * 512 + c] (fp32, already divided by the split's softmax
  // sum) and partial_lse[w] (-inf when the split saw no visible key for row r).
  // The planner sizes it from host-known bounds (see the planner).
  float* partial_out;
  float* partial_lse;

  // ---- device status ----
  uint32_t* status;  // OR of MLA_STATUS_* over the batch (atomicOr); per-request bits in requests[b].status

  // ---- plan facts for kernel choice (host side only; at the end so that
  // the fields above keep their offsets) ----
  int32_t plan_max_q_len;  // DecodePlan::max_q_len (1..16); 0: unknown (no small-H kernel)
};

}  // namespace mla::cuda_impl
