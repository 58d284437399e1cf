// mla/reference.h - the float64 CPU reference of the whole contract: the
// oracle of every test.
//
// Decodes every row exactly (BF16 and E4M3 are exact in double), applies the
// per-row scales, computes each query's scaled logits over its visible keys,
// the softmax and the weighted sum of V in double, and returns float output
// [total_q, H, 512] and LSE [total_q, H] (natural log). A row with no visible
// key gets output 0 and LSE -inf. It validates its input first.
#pragma once

#include "mla/status.h"
#include "mla/types.h"

namespace mla {

// All pointers are host pointers. out: total_q * H * 512 floats; lse: total_q * H.
Status reference_decode(const ProblemDesc& d, const ProblemData& data, float* out, float* lse);

// Decode one row of a format into 576 doubles, multiplied by its scale
// (scale is ignored for bf16 rows).
void decode_row(RowFormat f, const void* row, float scale, double* out576);

}  // namespace mla
