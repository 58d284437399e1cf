// The combine kernel (combine.h): a grid-stride loop over (request of the
// planner's list, chunk of kCombineWarps rows); one warp per row.
#include "combine.h"

#include "combine.cuh"
#include "config.h"

namespace mla::cuda_impl {
namespace {

__global__ void __launch_bounds__(kCombineThreads) combine_kernel(const __grid_constant__ CombineParams p) {
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
        combine_row(p.partial_out, p.partial_lse, rq.partial_row + first, rows, rq.num_splits, p.out + g * MLA_DIM_V,
                    p.lse + g);
      }
    }
  }
}

}  // namespace

cudaError_t launch_combine(const CombineParams& p, int32_t batch, int32_t sm_count, cudaStream_t stream) {
  int64_t grid = int64_t(batch) * p.chunks_per_request;
  const int64_t cap = int64_t(sm_count) * kCombineCtasPerSm;
  if (grid > cap) grid = cap;
  if (grid < 1) grid = 1;
  combine_kernel<<<unsigned(grid), kCombineThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mla::cuda_impl
