// The device-side planner (planner.h): one CTA walks the batch in chunks of
// kPlannerThreads requests, with block-wide prefix sums carrying across chunks.
//   Phase A (a warp per request): kv_len range and every page id it uses.
//   Phase B1: q_offsets checks (a request must start at or after every earlier
//             start, so valid requests own disjoint rows), q_len, key range,
//             cost; prefix sum of the cost -> each request's place on the cost line.
//   Phase B2: splits and parts from the cost line; prefix sums of items, split-K
//             workspace rows and combine entries; writes items and part_begin.
#include "planner.h"

#include <climits>

#include "config.h"
#include "mla/mask.h"
#include "mla/split.h"

namespace mla::cuda_impl {
namespace {

// Values scanned together: three sums, two maxima, one bitwise or.
struct ScanVals {
  int64_t sum0, sum1;
  int32_t sum2;
  int32_t max0, max1;
  uint32_t or0;
};

__device__ __forceinline__ ScanVals scan_identity() { return ScanVals{0, 0, 0, INT_MIN, INT_MIN, 0u}; }

__device__ __forceinline__ ScanVals scan_op(const ScanVals& a, const ScanVals& b) {
  return ScanVals{a.sum0 + b.sum0, a.sum1 + b.sum1, a.sum2 + b.sum2, max(a.max0, b.max0), max(a.max1, b.max1),
                  a.or0 | b.or0};
}

__device__ __forceinline__ ScanVals shfl_up(const ScanVals& v, int d) {
  constexpr unsigned kAll = 0xffffffffu;
  return ScanVals{__shfl_up_sync(kAll, v.sum0, d), __shfl_up_sync(kAll, v.sum1, d), __shfl_up_sync(kAll, v.sum2, d),
                  __shfl_up_sync(kAll, v.max0, d), __shfl_up_sync(kAll, v.max1, d), __shfl_up_sync(kAll, v.or0, d)};
}

// Inclusive scan within the warp.
__device__ __forceinline__ ScanVals warp_inclusive_scan(ScanVals v) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const ScanVals up = shfl_up(v, d);
    if (lane >= d) v = scan_op(up, v);
  }
  return v;
}

// Exclusive scan over the CTA; *total gets the combination of all values.
// `scratch` is 33 entries of shared memory.
__device__ ScanVals block_exclusive_scan(const ScanVals& v, ScanVals* scratch, ScanVals* total) {
  constexpr int kWarps = kPlannerThreads / 32;
  static_assert(kWarps <= 32, "one warp scans the warp totals");
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const ScanVals inc = warp_inclusive_scan(v);
  ScanVals excl = shfl_up(inc, 1);
  if (lane == 0) excl = scan_identity();
  if (lane == 31) scratch[warp] = inc;
  __syncthreads();
  if (warp == 0) {
    const ScanVals w = lane < kWarps ? scratch[lane] : scan_identity();
    const ScanVals winc = warp_inclusive_scan(w);
    ScanVals wex = shfl_up(winc, 1);
    if (lane == 0) wex = scan_identity();
    scratch[lane] = wex;
    if (lane == 31) scratch[32] = winc;
  }
  __syncthreads();
  const ScanVals r = scan_op(scratch[warp], excl);
  *total = scratch[32];
  __syncthreads();  // scratch is free for the next scan
  return r;
}

__device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A request's keys on the kBlockN grid and its M tiles.
struct Geometry {
  int64_t begin, end;    // keys any of its queries sees
  int64_t first_block;   // begin / kBlockN
  int32_t blocks;        // kBlockN blocks touching [begin, end); 0 when empty
  int32_t tiles;         // M tiles: ceil(q_len * H / kBlockM)
};

__device__ __forceinline__ Geometry geometry(const PlannerParams& p, int32_t q_len, int32_t kv_len) {
  Geometry g{0, 0, 0, 0, 0};
  if (q_len <= 0) return g;
  const KeyRange r = request_keys(static_cast<MaskKind>(p.mask), p.window, p.chunk, kv_len, q_len);
  g.begin = r.begin;
  g.end = r.end;
  g.first_block = r.begin / kBlockN;
  g.blocks = r.end > r.begin ? int32_t(ceil_div(r.end, kBlockN) - g.first_block) : 0;
  g.tiles = int32_t(ceil_div(int64_t(q_len) * p.num_heads, kBlockM));
  return g;
}

// Pieces of a request in fixed / invariant mode (1 for an empty key range).
__device__ __forceinline__ int32_t fixed_pieces(const PlannerParams& p, const Geometry& g, int32_t kv_len,
                                                int64_t* chunk) {
  if (g.blocks == 0) {
    *chunk = 0;
    return 1;
  }
  if (p.mode == SplitMode::invariant) {
    *chunk = invariant_chunk(kv_len);
    return int32_t((g.end - 1) / *chunk - g.begin / *chunk + 1);
  }
  const int64_t len = g.end - g.first_block * kBlockN;
  *chunk = split_chunk(len, p.num_splits, kBlockN);
  return int32_t(ceil_div(len, *chunk));
}

// Key range of piece s (fixed / invariant mode) and its blocks before it.
__device__ __forceinline__ void fixed_piece(const PlannerParams& p, const Geometry& g, int64_t chunk, int32_t s,
                                            int64_t* kb, int64_t* ke, int64_t* blocks_before) {
  if (g.blocks == 0) {
    *kb = *ke = *blocks_before = 0;
    return;
  }
  const int64_t start = p.mode == SplitMode::invariant ? (g.begin / chunk + s) * chunk : g.first_block * kBlockN + s * chunk;
  *kb = start > g.begin ? start : g.begin;
  *ke = start + chunk < g.end ? start + chunk : g.end;
  *blocks_before = *kb / kBlockN - g.first_block;
}

__device__ __forceinline__ int32_t part_of(int64_t x, int64_t payload, int32_t num_parts) {
  const int64_t q = x / payload;
  return int32_t(q < num_parts - 1 ? q : num_parts - 1);
}

// Phase A: kv_len range and page ids, one warp per request; the bits go to
// requests[b].status and are completed in phase B1.
__device__ void check_pages(const PlannerParams& p) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t max_keys = int64_t(p.max_pages) * p.page_size;
  for (int32_t b = warp; b < p.batch; b += kPlannerThreads / 32) {
    const int32_t kv = p.kv_lens[b];
    uint32_t bits = 0;
    if (kv < 0 || kv > max_keys) {
      bits = MLA_STATUS_BAD_KV_LEN;
    } else {
      const int32_t pages = int32_t((int64_t(kv) + p.page_size - 1) >> p.page_shift);
      const int32_t* row = p.page_table + int64_t(b) * p.max_pages;
      bool bad = false;
      for (int32_t j = lane; j < pages; j += 32) bad |= uint32_t(row[j]) >= uint32_t(p.num_pages);
      if (__any_sync(0xffffffffu, bad)) bits = MLA_STATUS_BAD_PAGE_ID;
    }
    if (lane == 0) p.requests[b].status = bits;
  }
}

__global__ void __launch_bounds__(kPlannerThreads) planner_kernel(const __grid_constant__ PlannerParams p) {
  __shared__ ScanVals scratch[33];
  const int tid = threadIdx.x;
  check_pages(p);
  __syncthreads();

  // Phase B1: per-request facts and the cost line.
  ScanVals carry = scan_identity();  // sum0: cost, max0: q_offsets, max1: tiles, or0: status
  int64_t max_cost = 0;              // the costliest request (c.max0 of the second scan, clamped)
  for (int32_t base = 0; base < p.batch; base += kPlannerThreads) {
    const int32_t b = base + tid;
    const bool active = b < p.batch;
    int32_t o0 = 0, o1 = 0, kv = 0;
    uint32_t bits = 0;
    if (active) {
      o0 = p.q_offsets[b];
      o1 = p.q_offsets[b + 1];
      kv = p.kv_lens[b];
      bits = p.requests[b].status;
    }
    ScanVals v = scan_identity(), tot;
    v.max0 = active ? o0 : INT_MIN;
    const ScanVals starts = block_exclusive_scan(v, scratch, &tot);
    const int32_t prev_max = max(carry.max0, starts.max0);  // max of q_offsets[0 .. b-1]
    carry.max0 = max(carry.max0, tot.max0);

    RequestInfo ri{0, 0, kv, 1, -1, 0u, 0};
    Geometry g{0, 0, 0, 0, 0};
    int64_t cost = 0;
    if (active) {
      const bool start_ok = b == 0 ? o0 == 0 : o0 >= prev_max;
      const bool rows_ok = start_ok && o0 >= 0 && o1 >= o0 && o1 <= p.total_q;  // rows owned by this request alone
      const bool offsets_ok = rows_ok && o1 - o0 <= MLA_MAX_Q_LEN && (b + 1 < p.batch || o1 == p.total_q);
      if (!offsets_ok) bits |= MLA_STATUS_BAD_Q_OFFSETS;
      const int32_t q_len = o1 - o0;
      if (bits == 0 && p.mask != MLA_MASK_NONE && q_len > kv) bits |= MLA_STATUS_BAD_Q_LEN_CAUSAL;
      ri.q_begin = rows_ok ? o0 : 0;
      ri.q_len = bits ? 0 : q_len;
      ri.status = bits;
      ri.fault_q_len = bits && rows_ok ? q_len : 0;
      g = geometry(p, ri.q_len, kv);
      if (ri.q_len > 0) {
        int64_t chunk;
        const int32_t pieces = p.mode == SplitMode::automatic ? 1 : fixed_pieces(p, g, kv, &chunk);
        cost = int64_t(g.tiles) * (int64_t(pieces) * kFixedCostBlocks + g.blocks);
      }
    }
    ScanVals c = scan_identity();
    c.sum0 = cost;
    c.max1 = g.tiles;
    c.max0 = int32_t(cost < INT_MAX ? cost : INT_MAX);
    c.or0 = bits;
    const ScanVals before = block_exclusive_scan(c, scratch, &tot);
    max_cost = max(max_cost, int64_t(tot.max0));
    if (active) {
      p.cost_begin[b] = carry.sum0 + before.sum0;
      p.requests[b] = ri;
    }
    carry.sum0 += tot.sum0;
    carry.max1 = max(carry.max1, tot.max1);
    carry.or0 |= tot.or0;
  }
  __syncthreads();

  // Phase B2: items and parts.
  const int64_t total = carry.sum0;
  int64_t payload = (total + p.num_parts - 1) / p.num_parts;
  // Whole requests: when every request fits in its own part and none costs
  // much more than an even share (at most 5/4 of it), part b takes request b
  // unsplit. Cutting the cost line evenly would instead split nearly every
  // request of a uniform batch in two (a combine pass for no balance gained).
  // Only for one M tile per request: at H = 128 (2 tiles) it measured slower
  // than the cut (380 vs 359 us, B=128 kv=4096, H200; docs/perf_notes.md).
  const bool whole = p.mode == SplitMode::automatic && p.batch <= p.num_parts && carry.max1 <= 1 &&
                     4 * max_cost <= 5 * payload;
  if (payload < carry.max1) payload = carry.max1;  // >= one block of any request: no part inside a request is empty
  if (payload < 1) payload = 1;
  ScanVals carry2 = scan_identity();  // sum0: partial rows, sum1: combine entries, sum2: items, max0: last part
  for (int32_t base = 0; base < p.batch; base += kPlannerThreads) {
    const int32_t b = base + tid;
    const bool active = b < p.batch;
    RequestInfo ri{0, 0, 0, 1, -1, 0u, 0};
    int64_t S = 0;
    if (active) {
      ri = p.requests[b];
      S = p.cost_begin[b];
    }
    const Geometry g = geometry(p, ri.q_len, ri.kv_len);
    int32_t n = 0, first_part = 0, last_part = -1;
    int64_t chunk = 0, x_first = 0;
    if (active && ri.q_len > 0) {
      if (whole) {
        first_part = last_part = b;
        n = 1;
      } else if (p.mode == SplitMode::automatic) {
        x_first = S + int64_t(g.tiles) * kFixedCostBlocks;
        if (g.blocks == 0) {
          first_part = last_part = part_of(S, payload, p.num_parts);
        } else {
          first_part = part_of(x_first, payload, p.num_parts);
          last_part = part_of(x_first + int64_t(g.tiles) * (g.blocks - 1), payload, p.num_parts);
        }
        n = last_part - first_part + 1;
      } else {
        n = fixed_pieces(p, g, ri.kv_len, &chunk);
        int64_t kb, ke, bb;
        fixed_piece(p, g, chunk, n - 1, &kb, &ke, &bb);
        last_part = part_of(S + int64_t(g.tiles) * (int64_t(n - 1) * kFixedCostBlocks + bb), payload, p.num_parts);
      }
    }
    const int64_t rows_per_split = int64_t(ri.q_len) * p.num_heads;
    const bool comb = active && (n > 1 || (ri.status != 0 && ri.fault_q_len > 0));
    ScanVals v = scan_identity(), tot;
    v.sum0 = n > 1 ? n * rows_per_split : 0;
    v.sum1 = comb ? 1 : 0;
    v.sum2 = n;
    v.max0 = n > 0 ? last_part : INT_MIN;
    const ScanVals before = block_exclusive_scan(v, scratch, &tot);
    if (active) {
      const int32_t item0 = carry2.sum2 + before.sum2;
      const int64_t row0 = carry2.sum0 + before.sum0;
      int32_t prev_part = max(max(carry2.max0, before.max0), -1);
      p.requests[b].num_splits = n > 1 ? n : 1;
      p.requests[b].partial_row = n > 1 ? int32_t(row0) : -1;
      for (int32_t s = 0; s < n; ++s) {
        int64_t kb, ke;
        int32_t part;
        if (p.mode == SplitMode::automatic) {
          part = first_part + s;
          if (g.blocks == 0) {
            kb = ke = 0;
          } else {
            // Blocks j of the request whose start x_first + tiles * j lies in `part`.
            auto first_block_in = [&](int64_t q) -> int64_t {
              const int64_t j = ceil_div(q * payload - x_first, g.tiles);
              return j < 0 ? 0 : (j > g.blocks ? g.blocks : j);
            };
            const int64_t j0 = s == 0 ? 0 : first_block_in(part);
            const int64_t j1 = s == n - 1 ? g.blocks : first_block_in(part + 1);
            kb = (g.first_block + j0) * kBlockN;
            ke = (g.first_block + j1) * kBlockN;
            if (kb < g.begin) kb = g.begin;
            if (ke > g.end) ke = g.end;
          }
        } else {
          int64_t bb;
          fixed_piece(p, g, chunk, s, &kb, &ke, &bb);
          part = part_of(S + int64_t(g.tiles) * (int64_t(s) * kFixedCostBlocks + bb), payload, p.num_parts);
        }
        const int32_t idx = item0 + s;
        p.items[idx] = WorkItem{b, int32_t(kb), int32_t(ke), s, n, n > 1 ? int32_t(row0 + s * rows_per_split) : -1};
        for (int32_t q = prev_part + 1; q <= part; ++q) p.part_begin[q] = idx;
        prev_part = part;
      }
      if (comb) p.combine_list[carry2.sum1 + before.sum1] = b;
    }
    carry2 = scan_op(carry2, tot);
  }
  const int32_t last = max(carry2.max0, -1);
  for (int32_t q = last + 1 + tid; q <= p.num_parts; q += kPlannerThreads) p.part_begin[q] = carry2.sum2;
  if (tid == 0) {
    *p.combine_count = int32_t(carry2.sum1);
    *p.status = carry.or0;
  }
}

}  // namespace

cudaError_t launch_planner(const PlannerParams& p, cudaStream_t stream) {
  planner_kernel<<<1, kPlannerThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

ScheduleBounds schedule_bounds(SplitMode mode, int32_t num_splits, int32_t batch, int32_t num_heads, int32_t total_q,
                               int64_t max_keys, int32_t num_parts) {
  ScheduleBounds s{0, 0};
  const int64_t q_rows = int64_t(total_q) * num_heads;
  if (mode == SplitMode::automatic) {
    // Splits happen only at part boundaries: at most num_parts - 1 requests
    // are split, into at most 2 (num_parts - 1) pieces together.
    s.max_items = int64_t(batch) + num_parts;
    const int64_t max_q = total_q < MLA_MAX_Q_LEN ? total_q : MLA_MAX_Q_LEN;
    const int64_t by_parts = 2 * int64_t(num_parts - 1) * max_q * num_heads;
    const int64_t by_rows = q_rows * num_parts;
    s.partial_rows = by_parts < by_rows ? by_parts : by_rows;
    return s;
  }
  int64_t cap;
  if (mode == SplitMode::invariant) {
    cap = (max_keys + MLA_INVARIANT_SPLIT_KEYS - 1) / MLA_INVARIANT_SPLIT_KEYS;
    if (cap > MLA_MAX_SPLITS) cap = MLA_MAX_SPLITS;
  } else {
    cap = (max_keys + kBlockN - 1) / kBlockN;
    if (cap > num_splits) cap = num_splits;
  }
  if (cap < 1) cap = 1;
  s.max_items = int64_t(batch) * cap;
  s.partial_rows = cap > 1 ? q_rows * cap : 0;
  return s;
}

}  // namespace mla::cuda_impl
