// dev_schedule.h - host-side stand-ins for the CUDA backend's planner and
// combine, used only by the sm_90a development harness (sm90_dev_check.cu)
// until the real ones exist. Not part of the library.
//
// Three ways to cut the work:
//  - whole:    one item per request (num_splits = 1), `items_per_part` items a part;
//  - split:    each request cut at absolute multiples of `split_keys` keys;
//  - balanced: about the same number of 64-key tiles per part, with
//              num_parts = SMs / M tiles (how the real planner should do it).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../../decode_params.h"
#include "mla/mask.h"
#include "mla/numeric.h"
#include "mla/types.h"

namespace mla::sm90_dev {

using cuda_impl::RequestInfo;
using cuda_impl::WorkItem;

struct HostSchedule {
  std::vector<RequestInfo> requests;
  std::vector<WorkItem> items;
  std::vector<int32_t> part_begin;  // num_parts + 1
  int32_t num_parts = 0;
  int32_t max_m_tiles = 0;
  int64_t workspace_rows = 0;
};

struct RequestShape {
  int32_t q_begin, q_len, kv_len;
  int64_t key_begin, key_end;  // keys any query of the request sees
};

inline std::vector<RequestShape> request_shapes(const ProblemDesc& d, const int32_t* q_offsets,
                                                const int32_t* kv_lens) {
  std::vector<RequestShape> r(d.batch);
  for (int32_t b = 0; b < d.batch; ++b) {
    r[b].q_begin = q_offsets[b];
    r[b].q_len = q_offsets[b + 1] - q_offsets[b];
    r[b].kv_len = kv_lens[b];
    KeyRange k = request_keys(d.mask, d.window, d.chunk, r[b].kv_len, r[b].q_len);
    r[b].key_begin = k.begin;
    r[b].key_end = std::max(k.begin, k.end);
  }
  return r;
}

// Cuts [begin, end) at absolute multiples of `step` (step > 0), at least one piece.
inline std::vector<std::pair<int64_t, int64_t>> cut_keys(int64_t begin, int64_t end, int64_t step) {
  std::vector<std::pair<int64_t, int64_t>> pieces;
  int64_t a = begin;
  do {
    int64_t b = std::min(end, (a / step + 1) * step);
    if (b <= a) b = end;
    pieces.push_back({a, b});
    a = b;
  } while (a < end);
  return pieces;
}

// Appends request b's pieces as items, assigning workspace rows when split.
inline void add_request_items(HostSchedule& s, int32_t b, const RequestShape& r, int32_t heads,
                              const std::vector<std::pair<int64_t, int64_t>>& pieces) {
  RequestInfo& ri = s.requests[b];
  ri.num_splits = int32_t(pieces.size());
  ri.partial_row = -1;
  const int64_t rows = int64_t(r.q_len) * heads;
  if (pieces.size() > 1) {
    ri.partial_row = int32_t(s.workspace_rows);
    s.workspace_rows += rows * int64_t(pieces.size());
  }
  for (size_t k = 0; k < pieces.size(); ++k) {
    WorkItem it;
    it.request = b;
    it.key_begin = int32_t(pieces[k].first);
    it.key_end = int32_t(pieces[k].second);
    it.split = int32_t(k);
    it.num_splits = ri.num_splits;
    it.partial_row = pieces.size() > 1 ? int32_t(ri.partial_row + int64_t(k) * rows) : -1;
    s.items.push_back(it);
  }
}

inline HostSchedule schedule_base(const ProblemDesc& d, const std::vector<RequestShape>& shapes) {
  HostSchedule s;
  s.requests.resize(d.batch);
  for (int32_t b = 0; b < d.batch; ++b) {
    RequestInfo& ri = s.requests[b];
    ri = RequestInfo{};
    ri.q_begin = shapes[b].q_begin;
    ri.q_len = shapes[b].q_len;
    ri.kv_len = shapes[b].kv_len;
    ri.num_splits = 1;
    ri.partial_row = -1;
    ri.status = 0u;
    s.max_m_tiles = std::max<int32_t>(s.max_m_tiles, (shapes[b].q_len * d.num_heads + 63) / 64);
  }
  return s;
}

// whole (split_keys == 0) or split, items_per_part consecutive items a part.
inline HostSchedule plan_simple(const ProblemDesc& d, const int32_t* q_offsets, const int32_t* kv_lens,
                                int64_t split_keys, int32_t items_per_part) {
  const auto shapes = request_shapes(d, q_offsets, kv_lens);
  HostSchedule s = schedule_base(d, shapes);
  for (int32_t b = 0; b < d.batch; ++b) {
    if (shapes[b].q_len == 0) continue;
    const auto& r = shapes[b];
    std::vector<std::pair<int64_t, int64_t>> pieces;
    if (split_keys > 0)
      pieces = cut_keys(r.key_begin, r.key_end, split_keys);
    else
      pieces.push_back({r.key_begin, r.key_end});
    add_request_items(s, b, r, d.num_heads, pieces);
  }
  for (size_t i = 0; i < s.items.size(); i += size_t(items_per_part)) s.part_begin.push_back(int32_t(i));
  s.part_begin.push_back(int32_t(s.items.size()));
  s.num_parts = int32_t(s.part_begin.size()) - 1;
  return s;
}

// About the same number of 64-key tiles in each of SMs / M-tiles parts.
inline HostSchedule plan_balanced(const ProblemDesc& d, const int32_t* q_offsets, const int32_t* kv_lens,
                                  int32_t num_sms) {
  const auto shapes = request_shapes(d, q_offsets, kv_lens);
  HostSchedule s = schedule_base(d, shapes);
  const int32_t parts = std::max(1, num_sms / std::max(1, s.max_m_tiles));
  int64_t total = 0;
  for (const auto& r : shapes)
    if (r.q_len > 0) total += std::max<int64_t>(1, (r.key_end - r.key_begin + 63) / 64);
  const int64_t per_part = std::max<int64_t>(1, (total + parts - 1) / parts);
  int64_t room = per_part;  // tiles left in the current part
  s.part_begin.push_back(0);
  for (int32_t b = 0; b < d.batch; ++b) {
    const auto& r = shapes[b];
    if (r.q_len == 0) continue;
    std::vector<std::pair<int64_t, int64_t>> pieces;
    std::vector<bool> closes_part;
    int64_t a = r.key_begin;
    do {
      if (room == 0) room = per_part;
      int64_t b_end = std::min(r.key_end, a + 64 * room);
      if (b_end <= a) b_end = r.key_end;  // empty request: one empty item
      const int64_t tiles = std::max<int64_t>(1, (b_end - a + 63) / 64);
      room -= std::min(room, tiles);
      pieces.push_back({a, b_end});
      closes_part.push_back(room == 0);
      a = b_end;
    } while (a < r.key_end);
    const size_t first = s.items.size();
    add_request_items(s, b, r, d.num_heads, pieces);
    for (size_t k = 0; k < pieces.size(); ++k)
      if (closes_part[k]) s.part_begin.push_back(int32_t(first + k + 1));
  }
  if (s.part_begin.back() != int32_t(s.items.size())) s.part_begin.push_back(int32_t(s.items.size()));
  s.num_parts = int32_t(s.part_begin.size()) - 1;
  return s;
}

// The combine on the host: merges the splits of each split request into
// BF16 out / LSE (both already holding the direct rows written by decode).
inline void combine_host(const ProblemDesc& d, const HostSchedule& s, const std::vector<float>& partial_out,
                         const std::vector<float>& partial_lse, uint16_t* out, float* lse) {
  for (int32_t b = 0; b < d.batch; ++b) {
    const RequestInfo& r = s.requests[b];
    if (r.num_splits <= 1 || r.q_len == 0) continue;
    const int64_t rows = int64_t(r.q_len) * d.num_heads;
    for (int64_t row = 0; row < rows; ++row) {
      double mx = -INFINITY;
      for (int32_t k = 0; k < r.num_splits; ++k) mx = std::max<double>(mx, partial_lse[r.partial_row + k * rows + row]);
      const int64_t g = int64_t(r.q_begin) * d.num_heads + row;
      if (mx == -INFINITY) {
        for (int c = 0; c < 512; ++c) out[g * 512 + c] = 0;
        lse[g] = -INFINITY;
        continue;
      }
      double wsum = 0;
      std::vector<double> acc(512, 0.0);
      for (int32_t k = 0; k < r.num_splits; ++k) {
        const int64_t w_row = r.partial_row + k * rows + row;
        const double w = std::exp(double(partial_lse[w_row]) - mx);
        wsum += w;
        for (int c = 0; c < 512; ++c) acc[c] += w * partial_out[w_row * 512 + c];
      }
      for (int c = 0; c < 512; ++c) out[g * 512 + c] = float_to_bf16(float(acc[c] / wsum));
      lse[g] = float(mx + std::log(wsum));
    }
  }
}

}  // namespace mla::sm90_dev
