// tools/owned_problem.h - a problem together with the host buffers it points
// to: what `mla run` loads from files and what `mla demo` synthesises.
#pragma once

#include <cstdint>
#include <vector>

#include "mla/types.h"

namespace mla::tools {

struct OwnedProblem {
  ProblemDesc desc;
  std::vector<uint8_t> q, kv_pool;      // rows as stored (BF16 bits or fp8_rope640 bytes)
  std::vector<float> q_scales, kv_scales;  // empty unless the format is fp8_rope640
  std::vector<int32_t> page_table, q_offsets, kv_lens;

  // Host pointers into the buffers above (null for empty buffers).
  ProblemData data() const {
    ProblemData d;
    d.q = q.empty() ? nullptr : q.data();
    d.q_scales = q_scales.empty() ? nullptr : q_scales.data();
    d.kv_pool = kv_pool.empty() ? nullptr : kv_pool.data();
    d.kv_scales = kv_scales.empty() ? nullptr : kv_scales.data();
    d.page_table = page_table.empty() ? nullptr : page_table.data();
    d.q_offsets = q_offsets.empty() ? nullptr : q_offsets.data();
    d.kv_lens = kv_lens.empty() ? nullptr : kv_lens.data();
    return d;
  }
};

}  // namespace mla::tools
