// mla/mask.h - which keys a query sees. Shared by the reference, the CUDA
// kernels (MLA_HD) and, by the same formulas, the GLSL shaders.
//
// Query i of a request with q_len queries and kv_len keys sits at position
// p = kv_len - q_len + i. It sees the keys k in [key_begin, key_end):
//   none:            [0, kv_len)
//   causal:          [0, min(p + 1, kv_len))
//   sliding_window:  [max(0, p - window + 1), min(p + 1, kv_len))
//   chunked:         [(p / chunk) * chunk, min(p + 1, kv_len))
// The range is empty (begin >= end) when no key is visible; such a row gets
// output 0 and LSE -inf.
#pragma once

#include <cstdint>

#include "mla/host_device.h"
#include "mla/types.h"

namespace mla {

struct KeyRange {
  int64_t begin;
  int64_t end;  // exclusive
};

MLA_HD KeyRange visible_keys(MaskKind mask, int32_t window, int32_t chunk, int64_t kv_len,
                             int64_t q_len, int64_t i) {
  const int64_t p = kv_len - q_len + i;
  if (mask == MaskKind::none) return KeyRange{0, kv_len};
  int64_t end = p + 1 < kv_len ? p + 1 : kv_len;
  int64_t begin = 0;
  if (mask == MaskKind::sliding_window) {
    begin = p - window + 1;
    if (begin < 0) begin = 0;
  } else if (mask == MaskKind::chunked) {
    begin = p >= 0 ? (p / chunk) * chunk : 0;
  }
  if (end < begin) end = begin;
  return KeyRange{begin, end};
}

// The keys any query of the request can see: the union of the ranges above
// (queries' ranges only move forward with i, so it is [first.begin, last.end)).
MLA_HD KeyRange request_keys(MaskKind mask, int32_t window, int32_t chunk, int64_t kv_len,
                             int64_t q_len) {
  if (q_len <= 0) return KeyRange{0, 0};
  KeyRange a = visible_keys(mask, window, chunk, kv_len, q_len, 0);
  KeyRange b = visible_keys(mask, window, chunk, kv_len, q_len, q_len - 1);
  return KeyRange{a.begin, b.end > a.begin ? b.end : a.begin};
}

// The naive rule on one (query position, key) pair; used by the independent
// materialised-matrix check of the reference.
MLA_HD bool key_visible(MaskKind mask, int32_t window, int32_t chunk, int64_t kv_len, int64_t p,
                        int64_t k) {
  if (k < 0 || k >= kv_len) return false;
  switch (mask) {
    case MaskKind::none: return true;
    case MaskKind::causal: return k <= p;
    case MaskKind::sliding_window: return k <= p && p - k < window;
    case MaskKind::chunked: return k <= p && (k / chunk) == (p / chunk);
  }
  return false;
}

}  // namespace mla
