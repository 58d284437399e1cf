// tests/reliability/entry_table.h - the validation table
// (tests/support/validation_cases.h) run through one entry point that
// validates: every rule just inside and just outside its bound, a clear error
// (the same message as mla::validate_*, or the entry's own earlier check),
// outputs poisoned before and still poison after, and a count of each kind.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "mla/status.h"
#include "mla_test.h"
#include "validation_cases.h"

namespace rel {

// One call of an entry point on one row.
struct EntryCall {
  const mla::test::validation::Fixture& f;  // the row (null pointers included)
  const mla::ProblemDesc& d;                // the row's description
  const mla::ProblemData& data;             // the row's pointers, or `mat`'s when it exists
  const mla::test::HostProblem* mat;        // buffers sized exactly for d (materialize.h), or null
  // Poisoned outputs; null where the row nulls them. An entry writes BF16 or float output.
  uint16_t* out_bf16;
  float* out_f32;
  float* lse;
  uint32_t* status_word;  // set to a garbage value before the call
};

struct EntryPoint {
  std::string name;
  bool reads_buffers = true;  // false: takes the description only (make_plan, workspace_bytes)
  bool host_metadata = true;  // checks q_offsets / kv_lens / page_table on the host
  bool float_out = false;     // writes out_f32 (then compared bitwise with the reference)
  // Whether a row can be put to the entry at all (files hold no null pointer). Null: every row.
  std::function<bool(const EntryCall&)> expressible;
  // The message of an earlier check of the entry's own that rejects the row
  // first (problem.json), or "". Null: none.
  std::function<std::string(const EntryCall&)> own_message;
  std::function<mla::Status(const EntryCall&)> call;
};

// Runs every row through e: CHECKs as described above and counts the rows in
// categories "bad input" (rejected, or flagged on the device) and "good input".
void run_table(const EntryPoint& e);

}  // namespace rel
