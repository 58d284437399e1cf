// tests/support/validation_cases.h - the table of every validation rule of
// common/src/validate.cpp, just inside and just outside its bound.
//
// One table, several entry points: the unit suite runs it through
// mla::validate_* and mla::reference_decode; the reliability suite runs the
// same rows through every other entry point that validates (the backends'
// host APIs, cuda::make_plan, Vulkan record_decode, `mla run` on files).
//
// One rule cannot be reached and has no row: "kv pool size exceeds 2^62
// bytes", since num_pages * page_size <= 2^31 - 1 rows of at most 1152 bytes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mla/status.h"
#include "mla/types.h"
#include "mla_test.h"

namespace mla::test::validation {

// The problem a row starts from, with its buffers.
enum class Base {
  bf16,   // (bf16, bf16) causal, page 16, H 4, q_lens {2,1,3}, kv_lens {40,1,17}: 9 pages, max_pages 4
  fp8,    // the same with (fp8_rope640, fp8_rope640)
  fp8kv,  // the same with (bf16, fp8_rope640)
  q16,    // bf16, q_lens {2,16,3}, kv_lens {40,20,17}
  noq,    // bf16, mask none, q_lens {0,0,0}: total_q = 0
  nokv,   // bf16, mask none, q_lens {1,2,0}, kv_lens {0,0,0}, no pages at all
};

struct Fixture {
  HostProblem hp;  // owns the buffers; hp.desc is the unmutated description
  ProblemDesc d;   // the description a row mutates
  ProblemData p;   // pointers into hp (a row may null them)
  // Non-null markers for the outputs: an entry point passes its own poisoned
  // buffers, or null where a row nulled these.
  const void* out = nullptr;
  const float* lse = nullptr;
  // Element pointers into hp's metadata, for the mutations.
  int32_t* qo() { return hp.q_offsets.data(); }
  int32_t* kv() { return hp.kv_lens.data(); }
  int32_t& pt(int b, int j) { return hp.page_table[size_t(b * d.max_pages + j)]; }
};

Fixture make(Base base);

// desc: only validate_desc applies (the buffers do not match the shape);
// host: the whole host validation applies and the buffers match the shape.
enum class Level { desc, host };

struct Row {
  const char* name;
  Base base;
  Level level;
  std::function<void(Fixture&)> mutate;
  bool valid;
  std::vector<std::string> needles;  // what the message must name: field, value, bound
};

const std::vector<Row>& rows();

// A fixture for a row: made from its base, outputs marked present, mutated.
Fixture make_row(const Row& r);

// Which part of the host validation rejects the row first.
enum class Stage { none, desc, buffers, metadata };
const char* to_string(Stage s);
// The stage and the status of the whole host validation (validate_desc only
// for Level::desc rows).
Stage first_failure(const Row& r, const Fixture& f, Status* st);

}  // namespace mla::test::validation
