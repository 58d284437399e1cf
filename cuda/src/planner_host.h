// planner_host.h - a host mirror of the device planner (planner.cu): the same
// schedule, computed sequentially from host arrays with the same arithmetic
// (planner.h, plan::). For tests (the device's schedule must equal it in both
// emission modes) and tools (cuda/src/sm90/dev/planner_sim.cpp prints it).
// PlannerParams' input pointers are host pointers here; its outputs unused.
#pragma once

#include <climits>
#include <cstdint>
#include <vector>

#include "combine.h"
#include "planner.h"

namespace mla::cuda_impl {

struct HostSchedule {
  std::vector<RequestInfo> requests;  // [B]
  std::vector<WorkItem> items;
  std::vector<int32_t> part_begin;    // [num_parts + 1]
  std::vector<int32_t> combine_list;  // [count]
  std::vector<int32_t> combine_units; // [count + 1]
  uint32_t status = 0;
  int64_t payload = 0;
  bool whole = false;
  int64_t partial_rows = 0;
};

inline HostSchedule plan_on_host(const PlannerParams& p) {
  HostSchedule h;
  const int32_t B = p.batch;
  h.requests.assign(size_t(B), RequestInfo{0, 0, 0, 1, -1, 0u, 0});
  std::vector<int64_t> cost_begin(size_t(B), 0);
  // Phase A.
  const int64_t max_keys = int64_t(p.max_pages) * p.page_size;
  std::vector<uint32_t> page_bits(size_t(B), 0u);
  for (int32_t b = 0; b < B; ++b) {
    const int32_t kv = p.kv_lens[b];
    if (kv < 0 || kv > max_keys) {
      page_bits[size_t(b)] = MLA_STATUS_BAD_KV_LEN;
      continue;
    }
    const int32_t pages = int32_t((int64_t(kv) + p.page_size - 1) >> p.page_shift);
    for (int32_t j = 0; j < pages; ++j)
      if (uint32_t(p.page_table[int64_t(b) * p.max_pages + j]) >= uint32_t(p.num_pages))
        page_bits[size_t(b)] = MLA_STATUS_BAD_PAGE_ID;
  }
  // Phase B1.
  int32_t prev_max = INT_MIN, max_tiles = INT_MIN;
  int64_t total = 0, max_cost = 0;
  for (int32_t b = 0; b < B; ++b) {
    const int32_t o0 = p.q_offsets[b], o1 = p.q_offsets[b + 1], kv = p.kv_lens[b];
    const RequestInfo ri = plan::request_info(p, b, o0, o1, kv, prev_max, page_bits[size_t(b)]);
    prev_max = prev_max > o0 ? prev_max : o0;
    const plan::Geometry g = plan::geometry(p, ri.q_len, kv);
    const int64_t cost = plan::request_cost(p, ri, g);
    const int64_t clamped = cost < INT_MAX ? cost : INT_MAX;
    max_cost = max_cost > clamped ? max_cost : clamped;
    max_tiles = max_tiles > g.tiles ? max_tiles : g.tiles;
    cost_begin[size_t(b)] = total;
    total += cost;
    h.status |= ri.status;
    h.requests[size_t(b)] = ri;
  }
  // Phase B2.
  h.payload = plan::payload_of(p, total, max_cost, max_tiles, &h.whole);
  h.part_begin.assign(size_t(p.num_parts) + 1, 0);
  int32_t prev_part = -1;
  int64_t units = 0;
  for (int32_t b = 0; b < B; ++b) {
    RequestInfo& ri = h.requests[size_t(b)];
    const int64_t S = cost_begin[size_t(b)];
    const plan::Geometry g = plan::geometry(p, ri.q_len, ri.kv_len);
    const plan::RequestSplit r = plan::request_split(p, ri, g, S, h.payload, h.whole, b);
    const int64_t row0 = h.partial_rows;
    ri.num_splits = r.n > 1 ? r.n : 1;
    ri.partial_row = r.n > 1 ? int32_t(row0) : -1;
    if (r.n > 1) h.partial_rows += int64_t(r.n) * ri.q_len * p.num_heads;
    if (r.n > 1 || (ri.status != 0 && ri.fault_q_len > 0)) {
      h.combine_list.push_back(b);
      h.combine_units.push_back(int32_t(units));
      units += combine_units_of(ri, p.num_heads);
    }
    for (int32_t s = 0; s < r.n; ++s) {
      int32_t part;
      const int32_t idx = int32_t(h.items.size());
      h.items.push_back(plan::request_item(p, b, ri, g, S, h.payload, r, row0, s, &part));
      for (int32_t q = prev_part + 1; q <= part; ++q) h.part_begin[size_t(q)] = idx;
      prev_part = part;
    }
  }
  for (int32_t q = prev_part + 1; q <= p.num_parts; ++q) h.part_begin[size_t(q)] = int32_t(h.items.size());
  h.combine_units.push_back(int32_t(units));
  return h;
}

}  // namespace mla::cuda_impl
