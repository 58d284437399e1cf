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
// q_offsets not starting at 0 / decreasing / a q_len above 16 / past total_q
// (or q_offsets[B] != total_q), q_len > kv_len under a causal-family mask.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "decode_params.h"

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
  int64_t* cost_begin;        // [B] scratch: each request's start on the cost line
  uint32_t* status;           // [1] OR of the requests' status bits (overwritten)
};

// Enqueues the planner (one CTA of kPlannerThreads) on `stream`.
cudaError_t launch_planner(const PlannerParams& p, cudaStream_t stream);

// Host-known bounds of the schedule (sizes of the workspace arrays).
struct ScheduleBounds {
  int64_t max_items;     // work items
  int64_t partial_rows;  // split-K workspace rows
};
ScheduleBounds schedule_bounds(SplitMode mode, int32_t num_splits, int32_t batch, int32_t num_heads, int32_t total_q,
                               int64_t max_keys, int32_t num_parts);

}  // namespace mla::cuda_impl
