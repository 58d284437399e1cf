// tests/reliability/device_model.h - what a run must produce when the
// metadata was checked on the device (mla/cuda.h "Device status", Vulkan
// plan.comp / pages.comp), modelled on the host from the same rules:
//
//  - kv_len outside [0, max_pages * page_size]       -> MLA_STATUS_BAD_KV_LEN
//    (its page ids are then not judged);
//  - else a page id of pages 0 .. ceil(kv_len / P) - 1
//    outside [0, num_pages)                           -> MLA_STATUS_BAD_PAGE_ID;
//  - request b owns rows [q_offsets[b], q_offsets[b+1]) when q_offsets[0] == 0
//    (b = 0) or q_offsets[b] >= every earlier offset (b > 0), and the range
//    starts at or after 0, is not reversed and ends inside total_q; it is
//    flagged MLA_STATUS_BAD_Q_OFFSETS when it does not own its rows, when
//    q_len > 16, or (last request) when q_offsets[B] != total_q;
//  - with no other bit, q_len > kv_len under a causal-family mask
//                                                     -> MLA_STATUS_BAD_Q_LEN_CAUSAL.
// A flagged request that owns its rows gets output 0 and LSE NaN on them;
// rows that no request owns are left untouched; every other request is
// computed as if it were alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend.h"
#include "mla_test.h"

namespace rel {

struct RequestOutcome {
  uint32_t bits = 0;
  bool owns_rows = false;
  int32_t q_begin = 0, q_len = 0;  // the rows [q_begin, q_begin + q_len) when owns_rows
};

// The model above on host copies of the metadata (d's shape fields are trusted).
std::vector<RequestOutcome> device_model(const mla::ProblemDesc& d, const int32_t* q_offsets,
                                         const int32_t* kv_lens, const int32_t* page_table);

// The float64 reference of request b alone: its own Q rows, kv_len and page
// row, whatever the other requests' metadata holds. REQUIREs that it is valid.
mla::test::Reference reference_of_request(const mla::test::HostProblem& p, int32_t b);

struct ModelCheck {
  bool ok = true;
  std::string failure;  // the first mismatch
  int flagged = 0;      // requests the model flags
  int computed = 0;     // requests the model computes (compared with the reference)
  int64_t unowned_rows = 0;
};

// Checks a run of p (whose metadata may be faulty: p.q_offsets, p.kv_lens and
// p.page_table are what the device saw) against the model. The status word
// must be the OR of the model's bits; with per_request, r.request_status must
// equal the model's bits request by request.
ModelCheck check_against_model(const mla::test::HostProblem& p, const Run& r, bool per_request);

}  // namespace rel
