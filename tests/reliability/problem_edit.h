// tests/reliability/problem_edit.h - surgery on a test problem: where a
// request's key or query lives in the buffers, writing single values into
// rows, and a batch of some of its requests.
#pragma once

#include <cstdint>
#include <vector>

#include "mla_test.h"

namespace rel {

// Pool row (page * page_size + row in page) of key t of request b.
int64_t kv_slot(const mla::test::HostProblem& p, int32_t b, int64_t t);

// Byte address of element c (0..575) of a row: BF16 rows hold 576 values;
// fp8_rope640 rows hold 512 E4M3 codes (c < 512, one byte) then 64 BF16.
uint8_t* kv_row(mla::test::HostProblem& p, int64_t slot);
uint8_t* q_row(mla::test::HostProblem& p, int64_t token, int32_t head);

// Writes a special value into element c of a row of format f: kind 'n' NaN,
// '+' +inf, '-' -inf. E4M3 content has no infinity: only NaN is allowed there
// (codes 0x7F / 0xFF); BF16 NaNs are quiet, their payload and sign vary with `salt`.
void poke(mla::RowFormat f, uint8_t* row, int c, char kind, uint32_t salt);

// The problem of requests `which` of p, in that order, on the same pool and
// pages (their Q rows, scales and metadata copied).
mla::test::HostProblem subset(const mla::test::HostProblem& p, const std::vector<int32_t>& which);

// The (token, head) rows of request b whose query sees key t.
std::vector<int64_t> rows_seeing_key(const mla::test::HostProblem& p, int32_t b, int64_t t);

// Whether query token `token` (global index) sees at least one key.
bool token_sees_keys(const mla::test::HostProblem& p, int64_t token);

// The request owning query token `token`.
int32_t request_of_token(const mla::test::HostProblem& p, int64_t token);

}  // namespace rel
