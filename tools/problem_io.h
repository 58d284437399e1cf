// tools/problem_io.h - the `mla` file contract: a problem directory in, the
// result files out. See README.md, "The mla command".
//
// In DIR: problem.json (tools/problem_json.h) and
//   q.npy          uint16 [total_q, H, 576] (BF16 bits) | uint8 [total_q, H, 640] (fp8_rope640)
//   q_scales.npy   float32 [total_q]                 fp8_rope640 Q only
//   kv_pool.npy    uint16 [num_pages, P, 576]        | uint8 [num_pages, P, 640]
//   kv_scales.npy  float32 [num_pages, P]            fp8_rope640 KV only
//   page_table.npy int32 [B, max_pages]
//   q_offsets.npy  int32 [B + 1]
//   kv_lens.npy    int32 [B]
// Out: out.npy float32 [total_q, H, 512] and lse.npy float32 [total_q, H].
#pragma once

#include <string>

#include "mla/status.h"
#include "owned_problem.h"

namespace mla::tools {

// Reads a problem directory. Checks dtypes, shapes and their agreement with
// problem.json (errors name the file, the field and the value); the contract's
// ranges and the metadata are left to mla::validate_host_problem.
Status load_problem(const std::string& dir, OwnedProblem* out);

// Writes a problem directory that load_problem reads back (creating DIR).
Status save_problem(const std::string& dir, const OwnedProblem& p);

// Writes DIR/out.npy and DIR/lse.npy (creating DIR).
Status write_result(const std::string& dir, const ProblemDesc& d, const float* out, const float* lse);

}  // namespace mla::tools
