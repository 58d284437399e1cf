// tools/bench/bench_check.h - is a timed result worth reporting? A fast
// kernel that writes wrong or no output is not a result: every config's
// output is scanned for NaN/inf and all-zero rows, and one request is
// compared with the float64 reference when that is cheap enough.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_request.h"
#include "mla/status.h"
#include "mla/types.h"

namespace mla::tools::bench {

struct CheckResult {
  bool pass = true;
  std::string text;  // "finite; ref b3 h16: max err/tol 0.21" or what failed
};

// Every value finite and not every row zero (out is poisoned with NaN before
// the first run, so rows nobody wrote fail here). Appends to `r`.
void check_finite(const std::vector<float>& out, const std::vector<float>& lse, uint32_t status_word, CheckResult* r);

// The request with the fewest keys (its first min(H, 16) heads) against the
// float64 reference, when that costs at most max_flops; otherwise notes the
// skip. `data` points to the batch (host or device, read through `copy`);
// q_offsets, kv_lens, page_table and out / lse (the backend's result,
// widened to float) are host memory. Appends to `r`.
Status check_cheapest_request(const ProblemDesc& d, const ProblemData& data, const CopyFn& copy,
                              const std::vector<int32_t>& q_offsets, const std::vector<int32_t>& kv_lens,
                              const std::vector<int32_t>& page_table, const float* out, const float* lse,
                              double max_flops, CheckResult* r);

}  // namespace mla::tools::bench
