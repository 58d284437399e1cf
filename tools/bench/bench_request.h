// tools/bench/bench_request.h - one request of a benchmarked batch as a
// stand-alone problem (batch 1, its first `heads` heads, its pages packed),
// so that the float64 reference can check it in well under a second while the
// batch itself would take minutes. Heads are independent, so a head subset of
// the reference is the reference of those heads.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "mla/status.h"
#include "mla/types.h"
#include "owned_problem.h"

namespace mla::tools::bench {

// Copies `bytes` from the batch's memory (host or device) into host memory.
using CopyFn = std::function<Status(void* dst, const void* src, size_t bytes)>;

struct RequestRef {
  int32_t q_offset = 0, q_len = 0, kv_len = 0;
  const int32_t* pages = nullptr;  // the request's page-table row (host memory)
  int32_t heads = 0;               // how many leading heads to keep
};

// `data` points into the batch's memory, read through `copy`.
Status extract_request(const ProblemDesc& d, const ProblemData& data, const RequestRef& r, const CopyFn& copy,
                       OwnedProblem* out);

// The request's rows of the batch's output: out [total_q, H, 512] and lse
// [total_q, H] (host floats) -> [q_len, heads, 512] and [q_len, heads].
void slice_outputs(const ProblemDesc& d, const RequestRef& r, const float* out, const float* lse,
                   std::vector<float>* out_rows, std::vector<float>* lse_rows);

}  // namespace mla::tools::bench
