// combine.h - the kernel that runs after every decode: it merges the split-K
// partial results of each split request through their LSE, and writes the
// rows of requests the planner flagged (output 0, LSE NaN). The planner lists
// the requests it must visit (combine_list / combine_count), so with no split
// and no fault it does nothing but read one count.
//
// Two kernels (MLA_PLANNER picks one; both read what either planner writes):
//   default: a grid-stride loop over the planner's combine units
//     (combine_units, a prefix over the list). A request with few splits
//     (n < kCombineWideSplits) has a unit per kCombineWarps rows, one warp
//     per row over all 512 columns (as the legacy kernel); one with many
//     splits has a unit per (row, 128-column quarter), whose 8 warps take
//     every 8th split and are merged through shared memory in a fixed order
//     (deterministic), so the n partials of one row are read by 256 threads
//     at once instead of 32 in a serial loop. Launched with programmatic
//     dependent launch on sm_90 (it waits for the decode grid before reading
//     partials). With nothing listed (no split, no fault) every CTA exits
//     after reading the count and waiting for the decode grid.
//   legacy (MLA_PLANNER=legacy): one warp per row, a grid-stride loop over
//     (list entry, chunk of kCombineWarps rows) units.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "config.h"
#include "decode_params.h"
#include "mla/host_device.h"

namespace mla::cuda_impl {

struct CombineParams {
  const RequestInfo* requests;
  const int32_t* list;     // requests to visit
  const int32_t* count;    // entries of list (written by the planner)
  const int32_t* units;    // [count + 1]: first unit of each entry; units[count] = total (default kernel)
  int32_t num_heads;
  int32_t chunks_per_request;  // legacy: ceil(min(16, total_q) * H / kCombineWarps): row chunks of one request
  const float* partial_out;
  const float* partial_lse;
  uint16_t* out;
  float* lse;
};

// Combine units of one list entry (request info as the planner wrote it).
MLA_HD int32_t combine_units_of(const RequestInfo& r, int32_t num_heads) {
  if (r.status != 0) return int32_t((int64_t(r.fault_q_len) * num_heads + kCombineWarps - 1) / kCombineWarps);
  const int64_t rows = int64_t(r.q_len) * num_heads;
  if (r.num_splits < kCombineWideSplits) return int32_t((rows + kCombineWarps - 1) / kCombineWarps);
  return int32_t(rows * kCombineColParts);
}

// Legacy kernel. Grid: min(batch * chunks_per_request, sm_count * kCombineCtasPerSm)
// CTAs, a grid-stride loop over (list entry, row chunk) units.
cudaError_t launch_combine_legacy(const CombineParams& p, int32_t batch, int32_t sm_count, cudaStream_t stream);

// Default kernel: a grid of min(max_units, sm_count * kCombineCtasPerSm)
// CTAs (max_units: a host-known bound on the planner's total), with
// programmatic dependent launch when `pdl` (compute capability >= 9.0).
cudaError_t launch_combine(const CombineParams& p, int64_t max_units, int32_t sm_count, bool pdl,
                           cudaStream_t stream);

}  // namespace mla::cuda_impl
