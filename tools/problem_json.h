// tools/problem_json.h - problem.json of the `mla` file contract: the fields
// of a ProblemDesc that the .npy shapes do not give.
//
//   {"num_heads": H, "q_format": "bf16" | "fp8_rope640", "kv_format": ...,
//    "mask": "none" | "causal" | "sliding_window" | "chunked",
//    "window": W (sliding_window only), "chunk": C (chunked only),
//    "softmax_scale": s, "page_size": P,
//    "num_splits": n (optional, default 0), "batch_invariant": b (optional, default false)}
//
// Unknown keys, missing keys, window/chunk with another mask, and values of
// the wrong JSON type are errors naming the key and the value. The ranges
// (H in 1..128, P a power of two, ...) are left to mla::validate_desc.
#pragma once

#include <string>

#include "mla/status.h"
#include "mla/types.h"

namespace mla::tools {

// Sets num_heads, q_format, kv_format, mask, window, chunk, softmax_scale,
// page_size, num_splits and batch_invariant of *d from JSON text; `name`
// starts every error ("problem.json").
Status desc_from_json(const std::string& name, const std::string& text, ProblemDesc* d);

// The same fields as JSON text (floats written so that they read back exactly).
std::string desc_to_json(const ProblemDesc& d);

}  // namespace mla::tools
