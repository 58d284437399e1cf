// mla/mask.h: the range functions every backend uses against the per-pair
// predicate key_visible, exhaustively on small sizes; and key_visible against
// the contract's wording, spelled out again here.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>

#include "mla/mask.h"

using namespace mla;

namespace {

// The contract, in its own words: keys k < kv_len only; none: all; causal:
// k <= p; sliding_window(W): causal and p - k < W; chunked(C): causal and
// k / C == p / C (for p >= 0; no key is visible to a negative position).
bool contract_visible(MaskKind m, int64_t W, int64_t C, int64_t kv_len, int64_t p, int64_t k) {
  if (k < 0 || k >= kv_len) return false;
  if (m == MaskKind::none) return true;
  if (k > p) return false;
  if (m == MaskKind::sliding_window) return p - k < W;
  if (m == MaskKind::chunked) return k / C == p / C;
  return true;
}

const MaskKind kMasks[] = {MaskKind::none, MaskKind::causal, MaskKind::sliding_window, MaskKind::chunked};

}  // namespace

TEST_CASE("mask: visible_keys and request_keys equal the key_visible sets, exhaustively") {
  int64_t checked = 0;
  for (MaskKind m : kMasks)
    for (int32_t param = 1; param <= 24; ++param) {
      const int32_t W = m == MaskKind::sliding_window ? param : 0, C = m == MaskKind::chunked ? param : 0;
      if (param > 1 && W == 0 && C == 0) continue;  // none / causal have no parameter
      for (int64_t kv_len = 0; kv_len <= 40; ++kv_len)
        // q_len beyond kv_len is invalid under causal masks but device code may
        // still evaluate it for a request it flags: the ranges must stay sane.
        for (int64_t q_len = 0; q_len <= 16; ++q_len) {
          int64_t union_lo = INT64_MAX, union_hi = INT64_MIN;
          for (int64_t i = 0; i < q_len; ++i) {
            const int64_t p = kv_len - q_len + i;
            const KeyRange r = visible_keys(m, W, C, kv_len, q_len, i);
            INFO("mask " << int(m) << " W " << W << " C " << C << " kv_len " << kv_len << " q_len " << q_len
                         << " i " << i << " range [" << r.begin << ", " << r.end << ")");
            REQUIRE(r.begin >= 0);
            REQUIRE(r.end >= r.begin);
            for (int64_t k = -2; k < kv_len + 3; ++k) {
              const bool in_range = k >= r.begin && k < r.end;
              const bool vis = key_visible(m, W, C, kv_len, p, k);
              REQUIRE(vis == in_range);
              REQUIRE(vis == contract_visible(m, W, C, kv_len, p, k));
              if (vis) union_lo = std::min(union_lo, k), union_hi = std::max(union_hi, k + 1);
              ++checked;
            }
          }
          // request_keys must cover every visible key and nothing beyond the union.
          const KeyRange all = request_keys(m, W, C, kv_len, q_len);
          INFO("request_keys [" << all.begin << ", " << all.end << ")");
          REQUIRE(all.end >= all.begin);
          if (union_lo == INT64_MAX) {
            CHECK(all.end == all.begin);
          } else {
            CHECK(all.begin == union_lo);
            CHECK(all.end == union_hi);
          }
        }
    }
  CHECK(checked > 1000000);
}

TEST_CASE("mask: a window or chunk wider than the cache is plain causal") {
  for (int64_t kv_len = 1; kv_len <= 30; ++kv_len)
    for (int64_t i = 0; i < 4 && i < kv_len; ++i) {
      const int64_t q_len = 4 < kv_len ? 4 : kv_len;
      const KeyRange c = visible_keys(MaskKind::causal, 0, 0, kv_len, q_len, i);
      const KeyRange w = visible_keys(MaskKind::sliding_window, 1 << 30, 0, kv_len, q_len, i);
      const KeyRange h = visible_keys(MaskKind::chunked, 0, 1 << 30, kv_len, q_len, i);
      CHECK(c.begin == w.begin);
      CHECK(c.end == w.end);
      CHECK(c.begin == h.begin);
      CHECK(c.end == h.end);
    }
  // Window 1 and chunk 1 leave only the diagonal key p.
  const KeyRange d1 = visible_keys(MaskKind::sliding_window, 1, 0, 100, 3, 1);
  CHECK(d1.begin == 98);
  CHECK(d1.end == 99);
  const KeyRange d2 = visible_keys(MaskKind::chunked, 0, 1, 100, 3, 2);
  CHECK(d2.begin == 99);
  CHECK(d2.end == 100);
}
