// tests/reliability/materialize.h - a validation-table row's problem with
// buffers sized exactly for its (mutated) description, for the entry points
// that read buffers before they see the metadata (the device checks it) or
// that take files (`mla run`).
#pragma once

#include <cstdint>

#include "mla_test.h"
#include "validation_cases.h"

namespace rel {

// Buffers larger than this are not materialised (the row is then tried only
// where it is rejected before any buffer is read).
constexpr int64_t kMaterializeLimitBytes = int64_t(16) << 20;

// Fills *out with f.d and buffers of exactly the sizes f.d implies, copied
// from the row's buffers and extended by repeating them (page-table columns
// by the garbage value 0x7fffffff, kv_lens by 0, q_offsets by the last
// offset). False when a size is negative or beyond the limit, or when a
// buffer the description needs is null in the row.
bool materialize(const mla::test::validation::Fixture& f, mla::test::HostProblem* out);

}  // namespace rel
