// planner.h - the device-side planner: from q_offsets / kv_lens / page_table
// on the device it writes, on the stream, the per-request facts, the work
// items (split-K decisions) and the part boundaries that the decode and
// combine kernels read. It never synchronises with the host, so it can be
// captured in a CUDA graph and replayed with new lengths.
//
// Split modes (all cut at kBlockN-aligned absolute key indices):
//   auto:      the batch's total cost (sum over requests of m_tiles x
//              (kFixedCostBlocks + key blocks)) is cut into num_parts equal
//              runs; a request whose blocks fall into several runs is split
//              at the run boundaries (FlashMLA's get_mla_metadata scheme).
//   explicit:  each request's key range, from its first block, cut into at
//              most num_splits pieces of mla::split_chunk(len, n, kBlockN) keys.
//   invariant: pieces of mla::invariant_chunk(kv_len) keys at absolute
//              multiples of it: a function of the request's own kv_len only.
// In explicit / invariant mode items are assigned to parts by their position
// on the same cost line, so every part gets a contiguous, balanced run.
//
// Device-side checks (the request is flagged in RequestInfo::status and the
// batch status word, gets q_len = 0 and no work item; the combine kernel
// writes its rows as 0 / NaN): kv_len outside [0, max_pages * page_size],
// a page id of pages [0, ceil(kv_len / page_size)) outside [0, num_pages),
// q_offsets not starting at 0 / decreasing / a q_len above 16 (or above the
// plan's max_q_len, PlanOptions) / past total_q
// (or q_offsets[B] != total_q), q_len > kv_len under a causal-family mask.
//
// Page-id check. Default: a separate kernel (page_check_kernel) runs first,
// a grid of batch x check_chunks CTAs, CTA (b, c) checking request b's pages
// [c * kCheckPagesPerCta, (c + 1) * kCheckPagesPerCta) and writing its own
// flag slot page_flags[b * check_chunks + c] every run (0, BAD_PAGE_ID or
// BAD_KV_LEN): nothing to zero, so it replays in a CUDA graph. The planner is
// launched after it with programmatic dependent launch and ORs the flags of
// each request. Legacy (page_flags == null, MLA_PLANNER=legacy): the
// planner's own CTA checks the pages (phase A of planner.cu), a warp a request.
//
// Emission (PlannerParams::parallel): the schedule (which items, which parts)
// is the same either way; only how the planner's one CTA writes it differs.
//   parallel = 1 (default): every thread of the CTA writes items, one item a
//     thread; a batch of <= 32 is planned by planner_small_kernel (phases B1
//     and B2 in one warp, then the same emission by 256 threads).
//   parallel = 2 (MLA_PLANNER=cta): as 1, but every batch by the one-CTA kernel.
//     Before (parallel = 0, MLA_PLANNER=legacy) one thread
//     wrote all items of its request in a loop: a long request cut over 129
//     parts cost 129 serial iterations (~0.5 us each, docs/perf_notes.md).
// Both write the combine's unit table (combine_units, combine.h), so either
// combine kernel can follow either planner.
//
// The schedule arithmetic below is __host__ __device__ so that a host mirror
// (planner_host.h) computes exactly the same schedule for tests and tools.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "config.h"
#include "decode_params.h"
#include "mla/mask.h"
#include "mla/split.h"
#include "mla/types.h"

namespace mla::cuda_impl {

enum class SplitMode : int32_t { automatic = 0, fixed = 1, invariant = 2 };

struct PlannerParams {
  // problem
  int32_t batch, num_heads, total_q;
  int32_t mask, window, chunk;
  int32_t page_size, page_shift, num_pages, max_pages;
  SplitMode mode;
  int32_t num_splits;  // fixed mode: 1..MLA_MAX_SPLITS
  int32_t num_parts;
  int32_t max_q_len;   // a request's q_len above it is flagged (the plan's grid covers no more)
  int32_t parallel;    // 1: parallel emission (default; batches of <= 32 by the one-warp planner_small_kernel),
                       // 2: parallel emission by the one-CTA kernel only (MLA_PLANNER=cta), 0: the legacy serial loops
  int32_t check_chunks;  // page-check CTAs per request (check_chunks_of(max_pages)); with page_flags
  // inputs (device)
  const int32_t* q_offsets;
  const int32_t* kv_lens;
  const int32_t* page_table;
  // outputs (device, in the workspace)
  RequestInfo* requests;      // [B]
  WorkItem* items;            // [max_items]
  int32_t* part_begin;        // [num_parts + 1]
  int32_t* combine_list;      // [B]: requests the combine kernel visits (split or flagged with rows)
  int32_t* combine_count;     // [1]
  int32_t* combine_units;     // [B + 1]: first combine unit of list entry e; [count] = total units
  int64_t* cost_begin;        // [B] scratch: each request's start on the cost line
  uint32_t* page_flags;       // [B * check_chunks] the page check's bits; null: the planner checks (legacy)
  uint32_t* status;           // [1] OR of the requests' status bits (overwritten)
};

// The problem fields of PlannerParams from a desc (inputs, outputs and
// `parallel` left for the caller).
inline PlannerParams planner_problem(const ProblemDesc& d, int32_t num_parts) {
  PlannerParams p{};
  p.batch = d.batch;
  p.num_heads = d.num_heads;
  p.total_q = d.total_q;
  p.mask = int32_t(d.mask);
  p.window = d.window;
  p.chunk = d.chunk;
  p.page_size = d.page_size;
  p.page_shift = 0;
  while ((1 << p.page_shift) < d.page_size) ++p.page_shift;
  p.num_pages = d.num_pages;
  p.max_pages = d.max_pages;
  p.mode = d.batch_invariant ? SplitMode::invariant : (d.num_splits > 0 ? SplitMode::fixed : SplitMode::automatic);
  p.num_splits = d.num_splits;
  p.num_parts = num_parts;
  p.max_q_len = MLA_MAX_Q_LEN;
  p.parallel = 1;
  return p;
}

// Pages one CTA of the page check reads (kCheckThreads x kCheckLoads).
constexpr int kCheckThreads = 256;
constexpr int kCheckLoads = 8;  // loads a thread issues before testing any
constexpr int32_t kCheckPagesPerCta = kCheckThreads * kCheckLoads;
inline int32_t check_chunks_of(int32_t max_pages) {
  const int32_t c = int32_t((int64_t(max_pages) + kCheckPagesPerCta - 1) / kCheckPagesPerCta);
  return c > 0 ? c : 1;
}

// Enqueues the planner (one CTA: kPlannerThreads, or 256 for
// planner_small_kernel) on `stream`; with
// p.page_flags, the page check (batch x check_chunks CTAs) before it and the
// planner with programmatic dependent launch when `pdl` (cc >= 9.0).
cudaError_t launch_planner(const PlannerParams& p, bool pdl, cudaStream_t stream);

// Host-known bounds of the schedule (sizes of the workspace arrays).
struct ScheduleBounds {
  int64_t max_items;     // work items
  int64_t partial_rows;  // split-K workspace rows
};
ScheduleBounds schedule_bounds(SplitMode mode, int32_t num_splits, int32_t batch, int32_t num_heads, int32_t total_q,
                               int64_t max_keys, int32_t num_parts);

// Combine units (combine.h, combine_units_of) the planner can write, bounded
// from the host: a list entry of a request with n >= kCombineWideSplits splits
// has kCombineColParts units a row and n x its rows of split-K workspace, so
// such rows are at most partial_rows / kCombineWideSplits; every other entry
// has ceil(rows / kCombineWarps) units. Valid and flagged requests own
// disjoint rows (request_info), so all entries' rows are at most q_rows.
MLA_HD int64_t combine_units_bound(int64_t q_rows, int64_t batch, int64_t partial_rows) {
  int64_t wide_rows = partial_rows / kCombineWideSplits;
  if (wide_rows > q_rows) wide_rows = q_rows;
  return (q_rows + kCombineWarps - 1) / kCombineWarps + batch + wide_rows * kCombineColParts;
}

// Workspace layout: the combine's unit table ([B + 1] int32) follows the
// combine list ([B] int32, 256-byte aligned) in the list's section.
inline int64_t combine_units_offset(int64_t combine_list_offset, int32_t batch) {
  return combine_list_offset + (int64_t(batch) * 4 + 255) / 256 * 256;
}
// The page check's flags ([B * check_chunks] uint32) follow cost_begin ([B] int64).
inline int64_t page_flags_offset(int64_t cost_begin_offset, int32_t batch) {
  return cost_begin_offset + (int64_t(batch) * 8 + 255) / 256 * 256;
}

// ---- schedule arithmetic shared by the planner kernel and its host mirror ----
namespace plan {

MLA_HD int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A request's keys on the kBlockN grid and its M tiles.
struct Geometry {
  int64_t begin, end;    // keys any of its queries sees
  int64_t first_block;   // begin / kBlockN
  int32_t blocks;        // kBlockN blocks touching [begin, end); 0 when empty
  int32_t tiles;         // M tiles: ceil(q_len * H / kBlockM)
};

MLA_HD Geometry geometry(const PlannerParams& p, int32_t q_len, int32_t kv_len) {
  Geometry g{0, 0, 0, 0, 0};
  if (q_len <= 0) return g;
  const KeyRange r = request_keys(static_cast<MaskKind>(p.mask), p.window, p.chunk, kv_len, q_len);
  g.begin = r.begin;
  g.end = r.end;
  g.first_block = r.begin / kBlockN;
  g.blocks = r.end > r.begin ? int32_t(ceil_div(r.end, kBlockN) - g.first_block) : 0;
  g.tiles = int32_t(ceil_div(int64_t(q_len) * p.num_heads, kBlockM));
  return g;
}

// Pieces of a request in fixed / invariant mode (1 for an empty key range).
MLA_HD int32_t fixed_pieces(const PlannerParams& p, const Geometry& g, int32_t kv_len, int64_t* chunk) {
  if (g.blocks == 0) {
    *chunk = 0;
    return 1;
  }
  if (p.mode == SplitMode::invariant) {
    *chunk = invariant_chunk(kv_len);
    return int32_t((g.end - 1) / *chunk - g.begin / *chunk + 1);
  }
  const int64_t len = g.end - g.first_block * kBlockN;
  *chunk = split_chunk(len, p.num_splits, kBlockN);
  return int32_t(ceil_div(len, *chunk));
}

// Key range of piece s (fixed / invariant mode) and its blocks before it.
MLA_HD void fixed_piece(const PlannerParams& p, const Geometry& g, int64_t chunk, int32_t s, int64_t* kb, int64_t* ke,
                        int64_t* blocks_before) {
  if (g.blocks == 0) {
    *kb = *ke = *blocks_before = 0;
    return;
  }
  const int64_t start =
      p.mode == SplitMode::invariant ? (g.begin / chunk + s) * chunk : g.first_block * kBlockN + s * chunk;
  *kb = start > g.begin ? start : g.begin;
  *ke = start + chunk < g.end ? start + chunk : g.end;
  *blocks_before = *kb / kBlockN - g.first_block;
}

MLA_HD int32_t part_of(int64_t x, int64_t payload, int32_t num_parts) {
  const int64_t q = x / payload;
  return int32_t(q < num_parts - 1 ? q : num_parts - 1);
}

// Phase B1 of one request: its facts from q_offsets[b], q_offsets[b + 1],
// kv_lens[b], the largest start of the requests before it and the bits of
// the page check (check_pages / kv_len_bits).
MLA_HD RequestInfo request_info(const PlannerParams& p, int32_t b, int32_t o0, int32_t o1, int32_t kv,
                                int32_t prev_max_start, uint32_t bits) {
  RequestInfo ri{0, 0, kv, 1, -1, 0u, 0};
  const bool start_ok = b == 0 ? o0 == 0 : o0 >= prev_max_start;
  const bool rows_ok = start_ok && o0 >= 0 && o1 >= o0 && o1 <= p.total_q;  // rows owned by this request alone
  const bool offsets_ok = rows_ok && o1 - o0 <= p.max_q_len && (b + 1 < p.batch || o1 == p.total_q);
  if (!offsets_ok) bits |= MLA_STATUS_BAD_Q_OFFSETS;
  const int32_t q_len = o1 - o0;
  if (bits == 0 && p.mask != MLA_MASK_NONE && q_len > kv) bits |= MLA_STATUS_BAD_Q_LEN_CAUSAL;
  ri.q_begin = rows_ok ? o0 : 0;
  ri.q_len = bits ? 0 : q_len;
  ri.status = bits;
  ri.fault_q_len = bits && rows_ok ? q_len : 0;
  return ri;
}

// A request's length on the cost line.
MLA_HD int64_t request_cost(const PlannerParams& p, const RequestInfo& ri, const Geometry& g) {
  if (ri.q_len <= 0) return 0;
  int64_t chunk;
  const int32_t pieces = p.mode == SplitMode::automatic ? 1 : fixed_pieces(p, g, ri.kv_len, &chunk);
  return int64_t(g.tiles) * (int64_t(pieces) * kFixedCostBlocks + g.blocks);
}

// Requests a part takes in the whole-request schedule: k = ceil(B / parts),
// part b / k takes request b unsplit.
MLA_HD int32_t whole_per_part(const PlannerParams& p) { return (p.batch + p.num_parts - 1) / p.num_parts; }

// MLA_PLAN_WHOLE_MULTI = 0 (A/B builds): the whole-request schedule only
// with one request a part.
#ifndef MLA_PLAN_WHOLE_MULTI
#define MLA_PLAN_WHOLE_MULTI 1
#endif

// MLA_PLAN_WHOLE_ONE = 0 (A/B builds): no whole-request schedule with one
// request a part (the cost line is cut evenly instead). Measured (H200, B=128
// kv=4096, graph, sixteenth session): cut instead of whole H16 q1 161.9 ->
// 175.1 us, H64 172.7 -> 192.9, H16 q2 163.4 -> 183.8, fp8 H16 106.3 -> 115.2.
#ifndef MLA_PLAN_WHOLE_ONE
#define MLA_PLAN_WHOLE_ONE 1
#endif

// The whole-request schedule and the payload per part, from the batch totals.
// Whole requests, one a part (k = 1): when every request fits in its own part
// and none costs much more than an even share (at most 5/4 of it), part b
// takes request b unsplit. Cutting the cost line evenly would instead split
// nearly every request of a uniform batch in two (a combine pass for no
// balance gained). Only for one M tile per request: at H = 128 (2 tiles,
// a part a request: 256 CTAs in two waves) it measured slower than the cut
// (380 vs 359 us, B=128 kv=4096, H200; docs/perf_notes.md).
// Several a part (k >= 2, e.g. B = 128 at H = 128, 66 parts): when k times
// the costliest request is within 5% of the even share, the parts take k
// whole requests each: the cut would be at most 5% shorter, but it splits
// about every other request, and its fp32 partials and combine cost more.
// Measured (H200, B=128 kv=4096, same call): H128 q1 309.0 -> 294.8 us, H64
// q2 316.1 -> 302.8, H128 q2 574.5 -> 568.1 (fp8 pairs there within noise).
MLA_HD int64_t payload_of(const PlannerParams& p, int64_t total, int64_t max_cost, int32_t max_tiles, bool* whole) {
  int64_t payload = (total + p.num_parts - 1) / p.num_parts;
  const int64_t k = whole_per_part(p);
  *whole = p.mode == SplitMode::automatic &&
           (k == 1 ? MLA_PLAN_WHOLE_ONE != 0 && max_tiles <= 1 && 4 * max_cost <= 5 * payload
                   : MLA_PLAN_WHOLE_MULTI != 0 && 20 * k * max_cost <= 21 * payload);
  if (payload < max_tiles) payload = max_tiles;  // >= one block of any request: no part inside a request is empty
  if (payload < 1) payload = 1;
  return payload;
}

// Where one request's items go, decided from its place S on the cost line.
struct RequestSplit {
  int32_t n;           // items (0: none)
  int32_t first_part;  // automatic / whole: part of item 0
  int32_t last_part;   // part of item n - 1 (-1 when n == 0)
  int64_t x_first;     // automatic: cost-line position of block 0
  int64_t chunk;       // fixed / invariant: keys per piece
};

MLA_HD RequestSplit request_split(const PlannerParams& p, const RequestInfo& ri, const Geometry& g, int64_t S,
                                  int64_t payload, bool whole, int32_t b) {
  RequestSplit r{0, 0, -1, 0, 0};
  if (ri.q_len <= 0) return r;
  if (whole) {
    r.first_part = r.last_part = b / whole_per_part(p);
    r.n = 1;
  } else if (p.mode == SplitMode::automatic) {
    r.x_first = S + int64_t(g.tiles) * kFixedCostBlocks;
    if (g.blocks == 0) {
      r.first_part = r.last_part = part_of(S, payload, p.num_parts);
    } else {
      r.first_part = part_of(r.x_first, payload, p.num_parts);
      r.last_part = part_of(r.x_first + int64_t(g.tiles) * (g.blocks - 1), payload, p.num_parts);
    }
    r.n = r.last_part - r.first_part + 1;
  } else {
    r.n = fixed_pieces(p, g, ri.kv_len, &r.chunk);
    int64_t kb, ke, bb;
    fixed_piece(p, g, r.chunk, r.n - 1, &kb, &ke, &bb);
    r.last_part = part_of(S + int64_t(g.tiles) * (int64_t(r.n - 1) * kFixedCostBlocks + bb), payload, p.num_parts);
  }
  return r;
}

// Item s of a request (0 <= s < r.n): its keys and its part. `row0` is the
// request's first split-K workspace row (unused when r.n == 1).
MLA_HD WorkItem request_item(const PlannerParams& p, int32_t b, const RequestInfo& ri, const Geometry& g, int64_t S,
                             int64_t payload, const RequestSplit& r, int64_t row0, int32_t s, int32_t* part_out) {
  int64_t kb = 0, ke = 0;
  int32_t part;
  if (p.mode == SplitMode::automatic) {  // also the whole-request schedule (n == 1: the request's whole range)
    part = r.first_part + s;
    if (g.blocks > 0) {
      // Blocks j of the request whose start x_first + tiles * j lies in `part`.
      auto first_block_in = [&](int64_t q) -> int64_t {
        const int64_t j = ceil_div(q * payload - r.x_first, g.tiles);
        return j < 0 ? 0 : (j > g.blocks ? g.blocks : j);
      };
      const int64_t j0 = s == 0 ? 0 : first_block_in(part);
      const int64_t j1 = s == r.n - 1 ? g.blocks : first_block_in(part + 1);
      kb = (g.first_block + j0) * kBlockN;
      ke = (g.first_block + j1) * kBlockN;
      if (kb < g.begin) kb = g.begin;
      if (ke > g.end) ke = g.end;
    }
  } else {
    int64_t bb;
    fixed_piece(p, g, r.chunk, s, &kb, &ke, &bb);
    part = part_of(S + int64_t(g.tiles) * (int64_t(s) * kFixedCostBlocks + bb), payload, p.num_parts);
  }
  *part_out = part;
  const int64_t rows_per_split = int64_t(ri.q_len) * p.num_heads;
  return WorkItem{b, int32_t(kb), int32_t(ke), s, r.n, r.n > 1 ? int32_t(row0 + s * rows_per_split) : -1};
}

}  // namespace plan
}  // namespace mla::cuda_impl
