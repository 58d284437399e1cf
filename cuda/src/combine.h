// combine.h - the kernel that runs after every decode: it merges the split-K
// partial results of each split request through their LSE, and writes the
// rows of requests the planner flagged (output 0, LSE NaN). The planner lists
// the requests it must visit (combine_list / combine_count), so with no split
// and no fault it does nothing but read one count.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "decode_params.h"

namespace mla::cuda_impl {

struct CombineParams {
  const RequestInfo* requests;
  const int32_t* list;     // requests to visit
  const int32_t* count;    // entries of list (written by the planner)
  int32_t num_heads;
  int32_t chunks_per_request;  // ceil(min(16, total_q) * H / kCombineWarps): row chunks of one request
  const float* partial_out;
  const float* partial_lse;
  uint16_t* out;
  float* lse;
};

// Grid: min(batch * chunks_per_request, sm_count * kCombineCtasPerSm) CTAs,
// a grid-stride loop over (list entry, row chunk) units.
cudaError_t launch_combine(const CombineParams& p, int32_t batch, int32_t sm_count, cudaStream_t stream);

}  // namespace mla::cuda_impl
