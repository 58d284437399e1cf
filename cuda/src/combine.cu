// The combine kernels (combine.h).
//   legacy: a grid-stride loop over (request of the planner's list, chunk of
//           kCombineWarps rows); one warp per row.
//   default: a grid-stride loop over the planner's combine units: row chunks
//           (a warp per row) for requests with few splits, (row, column part)
//           units shared by all 8 warps for requests with many.
#include "combine.h"
#include "dev_timeline.cuh"
#include "pdl.cuh"

#include "combine.cuh"
#include "config.h"

namespace mla::cuda_impl {
namespace {

__global__ void __launch_bounds__(kCombineThreads) combine_kernel_legacy(const __grid_constant__ CombineParams p) {
  const int warp = threadIdx.x >> 5;
  const int64_t units = int64_t(*p.count) * p.chunks_per_request;
  const int64_t rows_per_pass = int64_t(p.chunks_per_request) * kCombineWarps;
  for (int64_t u = blockIdx.x; u < units; u += gridDim.x) {
    const int64_t e = u / p.chunks_per_request;
    const int32_t chunk = int32_t(u - e * p.chunks_per_request);
    const RequestInfo rq = p.requests[p.list[e]];
    const int64_t first = int64_t(chunk) * kCombineWarps + warp;
    if (rq.status != 0) {
      // A flagged request may own more than 16 tokens (q_len > 16 is one of
      // the faults): the unit's warps also take the rows one pass further on.
      const int64_t rows = int64_t(rq.fault_q_len) * p.num_heads;
      for (int64_t r = first; r < rows; r += rows_per_pass) {
        const int64_t g = int64_t(rq.q_begin) * p.num_heads + r;
        fault_row(p.out + g * MLA_DIM_V, p.lse + g);
      }
    } else {
      const int64_t rows = int64_t(rq.q_len) * p.num_heads;
      if (first < rows) {
        const int64_t g = int64_t(rq.q_begin) * p.num_heads + first;
        combine_row_batched(p.partial_out, p.partial_lse, rq.partial_row + first, rows, rq.num_splits,
                            p.out + g * MLA_DIM_V, p.lse + g);
      }
    }
  }
}

// 3 CTAs of 256 threads a SM: at most 80 registers a thread (64 spilled).
__global__ void __launch_bounds__(kCombineThreads, kCombineDefaultCtasPerSm)
    combine_kernel(const __grid_constant__ CombineParams p) {
  __shared__ int32_t table_s[kCombineTable + 1];
  __shared__ WideScratch wide_s;
  const int warp = threadIdx.x >> 5;
  if (threadIdx.x == 0) MLA_DEV_STAMP_CTA(timeline::kCombine, 3, 512, 0);
  MLA_DEV_STAMP_AT_EXIT(blockIdx.x < 512 ? timeline::kCombine + 3 * int32_t(blockIdx.x) + 2 : -1);
  // This grid starts once every decode CTA has exited (the decode kernels
  // never trigger their dependents early), and each decode CTA waited for
  // the planner's grid to end first (pdl.cuh): the planner's list and unit
  // table can be read before the wait. (decode() always launches a decode
  // grid: it returns before the combine when there is no query row.)
  const int32_t count = *p.count;
  if (count == 0) {
    // Nothing to combine (no split, no fault): one load. The wait stays so
    // that this grid ends after the decode grid, as in plain stream order.
    wait_for_primary_grid();
    if (threadIdx.x == 0) MLA_DEV_STAMP_CTA(timeline::kCombine, 3, 512, 1);
    return;
  }
  const bool staged = count <= kCombineTable;
  if (staged)
    for (int32_t e = threadIdx.x; e <= count; e += blockDim.x) table_s[e] = p.units[e];
  const int32_t* table = staged ? table_s : p.units;
  __syncthreads();
  const int32_t total = table[count];
  wait_for_primary_grid();  // the decode grid's partials are complete and visible past this point
  if (threadIdx.x == 0) MLA_DEV_STAMP_CTA(timeline::kCombine, 3, 512, 1);
  int32_t e = 0;
  for (int32_t u = blockIdx.x; u < total; u += gridDim.x) {
    // Units only grow: the entry is at or after the previous unit's.
    int32_t hi = count;
    while (hi - e > 1) {
      const int32_t mid = (e + hi) >> 1;
      if (table[mid] <= u) e = mid; else hi = mid;
    }
    const RequestInfo rq = p.requests[p.list[e]];
    const int32_t k = u - table[e];
    const int64_t g0 = int64_t(rq.q_begin) * p.num_heads;
    if (rq.status != 0) {
      const int64_t rows = int64_t(rq.fault_q_len) * p.num_heads;
      const int64_t r = int64_t(k) * kCombineWarps + warp;
      if (r < rows) fault_row(p.out + (g0 + r) * MLA_DIM_V, p.lse + g0 + r);
      continue;
    }
    const int64_t rows = int64_t(rq.q_len) * p.num_heads;
    if (rq.num_splits < kCombineWideSplits) {
      const int64_t r = int64_t(k) * kCombineWarps + warp;
      if (r < rows)
        combine_row(p.partial_out, p.partial_lse, rq.partial_row + r, rows, rq.num_splits, p.out + (g0 + r) * MLA_DIM_V,
                    p.lse + g0 + r);
    } else {
      // Uniform over the CTA: every thread takes part in the unit's barriers.
      const int64_t r = k / kCombineColParts;
      const int32_t part = k - int32_t(r) * kCombineColParts;
      combine_row_part_wide(p.partial_out, p.partial_lse, rq.partial_row + r, rows, rq.num_splits, part,
                            p.out + (g0 + r) * MLA_DIM_V, p.lse + g0 + r, &wide_s);
    }
  }
}

}  // namespace

cudaError_t launch_combine_legacy(const CombineParams& p, int32_t batch, int32_t sm_count, cudaStream_t stream) {
  int64_t grid = int64_t(batch) * p.chunks_per_request;
  const int64_t cap = int64_t(sm_count) * kCombineCtasPerSm;
  if (grid > cap) grid = cap;
  if (grid < 1) grid = 1;
  combine_kernel_legacy<<<unsigned(grid), kCombineThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t launch_combine(const CombineParams& p, int64_t max_units, int32_t sm_count, bool pdl, cudaStream_t stream) {
  int64_t grid = max_units;
  const int64_t cap = int64_t(sm_count) * kCombineDefaultCtasPerSm;
  if (grid > cap) grid = cap;
  if (grid < 1) grid = 1;
  return launch_maybe_pdl(combine_kernel, dim3(unsigned(grid)), dim3(kCombineThreads), 0, pdl, stream, p);
}

}  // namespace mla::cuda_impl

MLA_DEV_TIMELINE_READER(read_combine_stamps)
