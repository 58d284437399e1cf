// The device-side planner (planner.h): one CTA walks the batch in chunks of
// kPlannerThreads requests, with block-wide prefix sums carrying across chunks.
//   Page check (default): page_check_kernel, launched before the planner over
//            batch x check_chunks CTAs; each writes its own flag slot. The
//            planner (programmatic dependent launch) loads its first chunk's
//            q_offsets / kv_lens, waits for that grid, and ORs each
//            request's flags.
//   Phase A (legacy only, page_flags == null): kv_len range and every page id
//            it uses, a warp per request, in the planner's own CTA.
//   Phase B1: q_offsets checks (a request must start at or after every earlier
//             start, so valid requests own disjoint rows), q_len, key range,
//             cost; prefix sum of the cost -> each request's place on the cost line.
//   Phase B2: splits and parts from the cost line; prefix sums of items, split-K
//             workspace rows, combine entries and combine units; writes items,
//             part_begin and the combine's list and unit table. Parallel
//             emission: after the prefix sums every thread writes one item
//             (of whichever request of the chunk it falls in, read from
//             shared memory); legacy: the request's own thread writes all its
//             items in a loop.
// A batch of at most kPlannerThreads requests keeps each request's facts in
// its thread's registers from B1 to B2 (no round trip through requests[] /
// cost_begin[]); a larger one goes through them chunk by chunk.
// A batch of at most 32 (default path) goes to planner_small_kernel instead:
// the same phases in one warp, without CTA barriers (MLA_PLANNER=cta keeps
// the one-CTA kernel for it).
// The schedule arithmetic is in planner.h (plan::), shared with the host
// mirror planner_host.h.
#include "planner.h"

#include <climits>

#include "combine.h"
#include "config.h"
#include "dev_timeline.cuh"
#include "pdl.cuh"

namespace mla::cuda_impl {
namespace {

#ifndef MLA_PLAN_WHOLE_FAST
#define MLA_PLAN_WHOLE_FAST 1
#endif

constexpr int kWarps = kPlannerThreads / 32;
static_assert(kWarps <= 32, "one warp scans the warp totals");

// Values scanned together: four sums, two maxima, one bitwise or.
struct ScanVals {
  int64_t sum0, sum1, sum3;
  int32_t sum2;
  int32_t max0, max1;
  uint32_t or0;
};

__device__ __forceinline__ ScanVals scan_identity() { return ScanVals{0, 0, 0, 0, INT_MIN, INT_MIN, 0u}; }

__device__ __forceinline__ ScanVals scan_op(const ScanVals& a, const ScanVals& b) {
  return ScanVals{a.sum0 + b.sum0, a.sum1 + b.sum1, a.sum3 + b.sum3, a.sum2 + b.sum2,
                  max(a.max0, b.max0), max(a.max1, b.max1), a.or0 | b.or0};
}

__device__ __forceinline__ ScanVals shfl_up(const ScanVals& v, int d) {
  constexpr unsigned kAll = 0xffffffffu;
  return ScanVals{__shfl_up_sync(kAll, v.sum0, d), __shfl_up_sync(kAll, v.sum1, d), __shfl_up_sync(kAll, v.sum3, d),
                  __shfl_up_sync(kAll, v.sum2, d), __shfl_up_sync(kAll, v.max0, d), __shfl_up_sync(kAll, v.max1, d),
                  __shfl_up_sync(kAll, v.or0, d)};
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
// `scratch` is 33 entries of shared memory. No barrier after the last read of
// scratch: callers alternate two buffers, so the next scan that writes this
// one is separated from these reads by the barriers of the scan in between.
// `live` (uniform over the warp): false when every lane of the warp holds
// scan_identity(); the warp then skips its shuffles (B = 128 leaves 12 of the
// 16 warps idle, and an SM retires one shuffle a clock: 10 a step here).
__device__ ScanVals block_exclusive_scan(const ScanVals& v, bool live, ScanVals* scratch, ScanVals* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  ScanVals inc = v, excl = scan_identity();
  if (live) {
    inc = warp_inclusive_scan(v);
    excl = shfl_up(inc, 1);
    if (lane == 0) excl = scan_identity();
  }
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
  return r;
}

// Phase B2's values of one request (split r of *rc, the request's facts)
// for the scan: sum0 its split-K workspace rows, sum1 / sum3 its combine
// entry and units, sum2 its items, max0 its last part. Sets rc->num_splits
// and *comb (the request goes through the combine: split, or faulted with
// rows to fill). Both planners (CTA and one warp) scan these.
__device__ __forceinline__ ScanVals b2_values(const PlannerParams& p, const plan::RequestSplit& r, bool active,
                                             RequestInfo* rc, bool* comb) {
  const int32_t n = r.n;
  *comb = active && (n > 1 || (rc->status != 0 && rc->fault_q_len > 0));
  rc->num_splits = n > 1 ? n : 1;
  ScanVals v = scan_identity();
  v.sum0 = n > 1 ? n * (int64_t(rc->q_len) * p.num_heads) : 0;
  v.sum1 = *comb ? 1 : 0;
  v.sum3 = *comb ? combine_units_of(*rc, p.num_heads) : 0;
  v.sum2 = n;
  v.max0 = n > 0 ? r.last_part : INT_MIN;
  return v;
}

// Phase B1's scan: the exclusive prefix of sum0 (the cost); max0, max1 and
// or0 only as CTA totals (warp reductions: one REDUX each instead of five
// shuffle steps); sum1..sum3 are zero in B1 and stay zero. A warp that is not
// `live` holds no request: its cost is 0 and its max0 / max1 / or0 (0, 0, 0)
// never raise a total of a chunk with a request in it, so it contributes the
// identity without a shuffle. Same buffer rule as block_exclusive_scan.
__device__ __forceinline__ void warp_scan_b1(ScanVals* v) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const int64_t up = __shfl_up_sync(0xffffffffu, v->sum0, d);
    if (lane >= d) v->sum0 += up;
  }
  v->max0 = __reduce_max_sync(0xffffffffu, v->max0);
  v->max1 = __reduce_max_sync(0xffffffffu, v->max1);
  v->or0 = __reduce_or_sync(0xffffffffu, v->or0);
}

__device__ ScanVals block_exclusive_scan_b1(const ScanVals& v, bool live, ScanVals* scratch, ScanVals* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  ScanVals inc = scan_identity();
  int64_t excl = 0;
  if (live) {
    inc = v;
    warp_scan_b1(&inc);
    excl = __shfl_up_sync(0xffffffffu, inc.sum0, 1);
    if (lane == 0) excl = 0;
  }
  if (lane == 31) scratch[warp] = inc;
  __syncthreads();
  if (warp == 0) {
    ScanVals w = lane < kWarps ? scratch[lane] : scan_identity();
    warp_scan_b1(&w);
    int64_t wex = __shfl_up_sync(0xffffffffu, w.sum0, 1);
    if (lane == 0) wex = 0;
    scratch[lane].sum0 = wex;
    if (lane == 31) scratch[32] = w;
  }
  __syncthreads();
  ScanVals r = scan_identity();
  r.sum0 = scratch[warp].sum0 + excl;
  *total = scratch[32];
  return r;
}

__device__ __forceinline__ int32_t warp_inclusive_max(int32_t v) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const int32_t up = __shfl_up_sync(0xffffffffu, v, d);
    if (lane >= d) v = max(v, up);
  }
  return v;
}

// Exclusive max scan of one int32 over the CTA (INT_MIN for thread 0);
// *total: the maximum of all. Same buffer rule as block_exclusive_scan.
__device__ int32_t block_exclusive_max(int32_t v, bool live, int32_t* scratch, int32_t* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int32_t inc = v, excl = INT_MIN;  // !live: every lane holds INT_MIN
  if (live) {
    inc = warp_inclusive_max(v);
    excl = __shfl_up_sync(0xffffffffu, inc, 1);
    if (lane == 0) excl = INT_MIN;
  }
  if (lane == 31) scratch[warp] = inc;
  __syncthreads();
  if (warp == 0) {
    const int32_t winc = warp_inclusive_max(lane < kWarps ? scratch[lane] : INT_MIN);
    int32_t wex = __shfl_up_sync(0xffffffffu, winc, 1);
    if (lane == 0) wex = INT_MIN;
    scratch[lane] = wex;
    if (lane == 31) scratch[32] = winc;
  }
  __syncthreads();
  *total = scratch[32];
  return max(scratch[warp], excl);
}

// Whether any of row[first], row[first + stride], ... below `pages` is
// outside [0, num_pages). Eight loads are issued before any is tested: with
// page_size 1 a batch of 128 requests of 4096 keys is 2 MB of page ids read by
// this one CTA, and a loop with one load in flight a lane (the compiler does
// not unroll a runtime stride) is the suspected cause of page 1's 0.34 ms
// regression since 44c3bb4 (docs/perf_notes.md; not yet measured).
__device__ __forceinline__ bool any_page_out_of_pool(const int32_t* row, int32_t pages, int32_t first, int32_t stride,
                                                     int32_t num_pages) {
  constexpr int kInFlight = 8;
  bool bad = false;
  for (int32_t j0 = first; j0 < pages; j0 += kInFlight * stride) {
    int32_t id[kInFlight];
#pragma unroll
    for (int k = 0; k < kInFlight; ++k) {
      const int32_t j = j0 + k * stride;
      id[k] = j < pages ? __ldg(row + j) : 0;
    }
#pragma unroll
    for (int k = 0; k < kInFlight; ++k) bad |= j0 + k * stride < pages && uint32_t(id[k]) >= uint32_t(num_pages);
  }
  return bad;
}

// The page check: CTA (b, c) of a 1-D grid of batch x check_chunks reads
// pages [c * kCheckPagesPerCta, (c + 1) * kCheckPagesPerCta) of request b's
// row (those below ceil(kv_len / page_size)), kCheckLoads loads a thread in
// flight, and writes its flag slot: BAD_KV_LEN (kv_len out of range, no page
// read), BAD_PAGE_ID or 0. Every slot is written every run.
__global__ void __launch_bounds__(kCheckThreads) page_check_kernel(const __grid_constant__ PlannerParams p) {
  const int64_t cta = blockIdx.x;
  const int32_t b = int32_t(cta / p.check_chunks);
  const int32_t c = int32_t(cta - int64_t(b) * p.check_chunks);
  if (threadIdx.x == 0) MLA_DEV_STAMP_CTA(timeline::kCheck, 2, 256, 0);
  // The planner may start now: it reads only the caller's inputs before it
  // waits for this grid (this grid itself started after all earlier work).
  allow_dependent_launch();
  const int32_t kv = p.kv_lens[b];
  const bool kv_ok = kv >= 0 && kv <= int64_t(p.max_pages) * p.page_size;
  bool bad = false;
  if (kv_ok) {
    const int32_t pages = int32_t((int64_t(kv) + p.page_size - 1) >> p.page_shift);
    const int32_t first = c * kCheckPagesPerCta;  // < max_pages + kCheckPagesPerCta: no overflow
    const int32_t end = min(pages, first + kCheckPagesPerCta);
    static_assert(kCheckLoads == 8, "one pass of any_page_out_of_pool's 8 loads a thread");
    bad = any_page_out_of_pool(p.page_table + int64_t(b) * p.max_pages, end, first + int32_t(threadIdx.x),
                               kCheckThreads, p.num_pages);
  }
  bad = __syncthreads_or(bad) != 0;
  if (threadIdx.x == 0) p.page_flags[cta] = kv_ok ? (bad ? MLA_STATUS_BAD_PAGE_ID : 0u) : MLA_STATUS_BAD_KV_LEN;
  if (threadIdx.x == 0) MLA_DEV_STAMP_CTA(timeline::kCheck, 2, 256, 1);
}

// The page-check bits of request base + threadIdx.x (0 when !active): the OR
// of its check_chunks flags. Up to 4 flags a request: the thread loads its
// own; more: the CTA reads the chunk's flags together (coalesced) and ORs
// them into `bits_s` (kPlannerThreads entries). Uniform over the CTA.
__device__ uint32_t gather_flags(const PlannerParams& p, int32_t base, bool active, uint32_t* bits_s) {
  const int32_t ch = p.check_chunks;
  const int tid = threadIdx.x;
  if (ch <= 4) {
    if (!active) return 0u;
    const uint32_t* f = p.page_flags + int64_t(base + tid) * ch;
    uint32_t v[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) v[k] = k < ch ? __ldcg(f + k) : 0u;
    return v[0] | v[1] | v[2] | v[3];
  }
  bits_s[tid] = 0u;
  __syncthreads();
  const int32_t n = min(p.batch - base, kPlannerThreads);
  const int64_t total = int64_t(n) * ch;
  const uint32_t* f = p.page_flags + int64_t(base) * ch;
  for (int64_t i = tid; i < total; i += kPlannerThreads) {
    const uint32_t v = __ldcg(f + i);
    if (v) atomicOr(&bits_s[i / ch], v);
  }
  __syncthreads();
  return active ? bits_s[tid] : 0u;
}

// Phase A: kv_len range and page ids; the bits go to requests[b].status and
// are completed in phase B1. `wpr` warps check one request (1, or kWarps / B
// for a small batch in the parallel emission: one long request's page list
// is read by every warp instead of one).
__device__ void check_pages(const PlannerParams& p, uint32_t* flags_s) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int wpr = p.parallel && p.batch > 0 && p.batch < kWarps ? kWarps / p.batch : 1;
  const int groups = kWarps / wpr, group = warp / wpr, sub = warp - group * wpr;
  const int64_t max_keys = int64_t(p.max_pages) * p.page_size;
  for (int32_t b0 = 0; b0 < p.batch; b0 += groups) {  // the same trip count in every warp
    const int32_t b = b0 + group;
    const bool mine = group < groups && b < p.batch;
    uint32_t bits = 0;
    bool bad = false;
    if (mine) {
      const int32_t kv = p.kv_lens[b];
      if (kv < 0 || kv > max_keys) {
        bits = MLA_STATUS_BAD_KV_LEN;
      } else {
        const int32_t pages = int32_t((int64_t(kv) + p.page_size - 1) >> p.page_shift);
        const int32_t* row = p.page_table + int64_t(b) * p.max_pages;
        bad = any_page_out_of_pool(row, pages, sub * 32 + lane, wpr * 32, p.num_pages);
      }
    }
    bad = __any_sync(0xffffffffu, bad);
    if (wpr == 1) {
      if (mine && lane == 0) p.requests[b].status = bits ? bits : (bad ? MLA_STATUS_BAD_PAGE_ID : 0u);
    } else {
      if (lane == 0) flags_s[warp] = bad ? 1u : 0u;
      __syncthreads();
      if (mine && sub == 0 && lane == 0) {
        uint32_t any = 0;
        for (int w = 0; w < wpr; ++w) any |= flags_s[warp + w];
        p.requests[b].status = bits ? bits : (any ? MLA_STATUS_BAD_PAGE_ID : 0u);
      }
      __syncthreads();
    }
  }
}

// kFast: the common case known at compile time (page_flags set, batch <=
// kPlannerThreads, parallel emission), so that the legacy page check, the
// serial emission and the chunk round trips are not in its code at all;
// launch_planner picks it when they hold. The generic instantiation decides
// the same things at run time. Both write the same schedule.
template <bool kFast>
__global__ void __launch_bounds__(kPlannerThreads) planner_kernel(const __grid_constant__ PlannerParams p) {
  __shared__ ScanVals scratch[2][33];
  __shared__ int32_t max_scratch[2][33];
  __shared__ uint32_t flags_s[kWarps];
  __shared__ uint32_t bits_s[kPlannerThreads];
  // Parallel emission: per request slot of the chunk, its first item (chunk-local), the part
  // of the item before its first, its first split-K workspace row, its facts and its cost-line start.
  __shared__ int32_t item0_s[kPlannerThreads], prev_part_s[kPlannerThreads], row0_s[kPlannerThreads];
  __shared__ RequestInfo ri_s[kPlannerThreads];
  __shared__ int64_t S_s[kPlannerThreads];
  const int tid = threadIdx.x;
  const bool flagged = kFast || p.page_flags != nullptr;
  const bool one_chunk = kFast || p.batch <= kPlannerThreads;
  const bool parallel = kFast || p.parallel;
  const int32_t batch_end = kFast ? 1 : p.batch;  // chunk loops: kFast has one chunk (batch >= 1)
  if (tid == 0) MLA_DEV_STAMP(timeline::kPlanner);
  MLA_DEV_STAMP_AT_EXIT(timeline::kPlanner + 2);
  int buf = 0;  // scan buffer in turn (block_exclusive_scan)

  // The first chunk's inputs are the caller's, complete before the page check
  // started: loaded before waiting for it (with the start before each
  // request's own, for the one-chunk test of non-decreasing starts below).
  int32_t o0 = 0, o1 = 0, kv = 0, o_prev = INT_MIN;
  if (tid < p.batch) {
    o0 = p.q_offsets[tid];
    o1 = p.q_offsets[tid + 1];
    kv = p.kv_lens[tid];
    if (one_chunk && tid > 0) o_prev = p.q_offsets[tid - 1];
  }
  wait_for_primary_grid();  // the page check's flags are complete and visible past this point
  if (tid == 0) MLA_DEV_STAMP(timeline::kPlanner + 1);
  allow_dependent_launch();  // the decode's CTAs may start their set-up (they wait for this grid to end)
  if (!flagged) {
    check_pages(p, flags_s);
    __syncthreads();
  }

  // Phase B1: per-request facts and the cost line.
  ScanVals carry = scan_identity();  // sum0: cost, max0: q_offsets (max_carry), max1: tiles, or0: status
  int32_t max_carry = INT_MIN;       // the largest q_offsets[b] of earlier chunks
  int64_t max_cost = 0;              // the costliest request (c.max0 of the scan, clamped)
  RequestInfo keep_ri{0, 0, 0, 1, -1, 0u, 0};  // one_chunk: this thread's request, B1 to B2
  int64_t keep_S = 0;
  for (int32_t base = 0; base < batch_end; base += kPlannerThreads) {
    const int32_t b = base + tid;
    const bool active = b < p.batch;
    const bool warp_live = base + (tid & ~31) < p.batch;
    if (base > 0 && active) {
      o0 = p.q_offsets[b];
      o1 = p.q_offsets[b + 1];
      kv = p.kv_lens[b];
    }
    uint32_t bits = 0;
    if (flagged) bits = gather_flags(p, base, active, bits_s);
    else if (active) bits = p.requests[b].status;
    // prev_max: the largest of q_offsets[0 .. b-1]. One chunk whose starts
    // never decrease (every valid batch): q_offsets[b - 1], after one barrier
    // that tests it instead of the max scan's two.
    int32_t prev_max;
    if (one_chunk && !__syncthreads_or(active && tid > 0 && o_prev > o0)) {
      prev_max = o_prev;  // INT_MIN for b = 0, as the scan gives
    } else {
      int32_t starts_max;
      const int32_t starts = block_exclusive_max(active ? o0 : INT_MIN, warp_live, max_scratch[buf], &starts_max);
      prev_max = max(max_carry, starts);
      max_carry = max(max_carry, starts_max);
    }

    RequestInfo ri{0, 0, kv, 1, -1, 0u, 0};
    plan::Geometry g{0, 0, 0, 0, 0};
    int64_t cost = 0;
    if (active) {
      ri = plan::request_info(p, b, o0, o1, kv, prev_max, bits);
      bits = ri.status;
      g = plan::geometry(p, ri.q_len, kv);
      cost = plan::request_cost(p, ri, g);
    }
    ScanVals c = scan_identity(), tot;
    c.sum0 = cost;
    c.max1 = g.tiles;
    c.max0 = int32_t(cost < INT_MAX ? cost : INT_MAX);
    c.or0 = bits;
    const ScanVals before = block_exclusive_scan_b1(c, warp_live, scratch[buf], &tot);
    buf ^= 1;
    max_cost = max(max_cost, int64_t(tot.max0));
    if (active) {
      const int64_t S = carry.sum0 + before.sum0;
      if (one_chunk) {
        keep_ri = ri;
        keep_S = S;
      } else {
        p.cost_begin[b] = S;
        p.requests[b] = ri;
      }
    }
    carry.sum0 += tot.sum0;
    carry.max1 = max(carry.max1, tot.max1);
    carry.or0 |= tot.or0;
  }

  // Phase B2: items and parts.
  if (tid == 0) MLA_DEV_STAMP(timeline::kPlanner + 3);
  bool whole = false;
  const int64_t payload = plan::payload_of(p, carry.sum0, max_cost, carry.max1, &whole);
  // Whole-request fast path (one chunk): in a whole schedule where every
  // request has rows (so none is flagged: request_info zeroes a flagged
  // request's q_len), B2's scans have closed forms: request b is item b,
  // unsplit, in part b / k; no partial rows, no combine entry. What follows
  // writes exactly what B2 and the emission below would (the schedule tests
  // compare it with the host mirror); it skips their two scans, the barrier
  // before the emission and its searches (~3.4 of the planner's ~5 us after
  // its wait at B = 128, H200 timeline, eighteenth session). `whole`,
  // one_chunk and parallel are uniform, so every thread reaches the barrier.
  // An empty batch (run_planner still plans it) keeps the full path: its
  // `whole` holds with k = 0 requests a part. The legacy planner keeps the
  // full B2 path (MLA_PLANNER=legacy tests it on whole schedules too);
  // MLA_PLAN_WHOLE_FAST=0 builds without the fast path (A/B builds).
  if (MLA_PLAN_WHOLE_FAST && one_chunk && parallel && whole && p.batch > 0 &&
      __syncthreads_and(tid >= p.batch || keep_ri.q_len > 0)) {
    if (tid == 0) MLA_DEV_STAMP(timeline::kPlanner + 4);
    const int32_t k = plan::whole_per_part(p);
    if (tid < p.batch) {
      RequestInfo rc = keep_ri;
      rc.num_splits = 1;
      rc.partial_row = -1;
      p.requests[tid] = rc;
      const plan::Geometry g = plan::geometry(p, rc.q_len, rc.kv_len);
      const plan::RequestSplit r = plan::request_split(p, rc, g, keep_S, payload, true, tid);
      int32_t part;
      p.items[tid] = plan::request_item(p, tid, rc, g, keep_S, payload, r, 0, 0, &part);
      if (tid % k == 0) p.part_begin[part] = tid;  // part == tid / k: the part's first item
    }
    for (int32_t q = (p.batch - 1) / k + 1 + tid; q <= p.num_parts; q += kPlannerThreads) p.part_begin[q] = p.batch;
    if (tid == 0) {
      *p.combine_count = 0;
      p.combine_units[0] = 0;
      *p.status = carry.or0;
    }
    return;
  }
  // sum0: partial rows, sum1: combine entries, sum3: combine units, sum2: items, max0: last part
  ScanVals carry2 = scan_identity();
  for (int32_t base = 0; base < batch_end; base += kPlannerThreads) {
    const int32_t b = base + tid;
    const bool active = b < p.batch;
    const bool warp_live = base + (tid & ~31) < p.batch;
    RequestInfo ri{0, 0, 0, 1, -1, 0u, 0};
    int64_t S = 0;
    if (active) {
      if (one_chunk) {
        ri = keep_ri;
        S = keep_S;
      } else {
        ri = p.requests[b];  // written by this thread in B1
        S = p.cost_begin[b];
      }
    }
    const plan::Geometry g = plan::geometry(p, ri.q_len, ri.kv_len);
    plan::RequestSplit r{0, 0, -1, 0, 0};
    if (active) r = plan::request_split(p, ri, g, S, payload, whole, b);
    const int32_t n = r.n;
    RequestInfo rc = ri;
    bool comb = false;
    ScanVals tot;
    const ScanVals before = block_exclusive_scan(b2_values(p, r, active, &rc, &comb), warp_live, scratch[buf], &tot);
    buf ^= 1;
    if (active) {
      const int32_t item0 = carry2.sum2 + before.sum2;
      const int64_t row0 = carry2.sum0 + before.sum0;
      const int32_t prev_part = max(max(carry2.max0, before.max0), -1);
      rc.partial_row = n > 1 ? int32_t(row0) : -1;
      if (one_chunk) {
        p.requests[b] = rc;
      } else {
        p.requests[b].num_splits = rc.num_splits;
        p.requests[b].partial_row = rc.partial_row;
      }
      if (comb) {
        const int64_t e = carry2.sum1 + before.sum1;
        p.combine_list[e] = b;
        p.combine_units[e] = int32_t(carry2.sum3 + before.sum3);
      }
      if (parallel) {
        item0_s[tid] = before.sum2;
        prev_part_s[tid] = prev_part;
        row0_s[tid] = int32_t(row0);
        ri_s[tid] = rc;
        S_s[tid] = S;
      } else {
        int32_t prev = prev_part;
        for (int32_t s = 0; s < n; ++s) {
          int32_t part;
          const int32_t idx = item0 + s;
          p.items[idx] = plan::request_item(p, b, ri, g, S, payload, r, row0, s, &part);
          for (int32_t q = prev + 1; q <= part; ++q) p.part_begin[q] = idx;
          prev = part;
        }
      }
    } else if (parallel) {
      item0_s[tid] = INT_MAX;  // never the slot of an item
    }
    if (parallel) {
      __syncthreads();
      if (tid == 0) MLA_DEV_STAMP(timeline::kPlanner + 4);
      // Item i of the chunk belongs to the last slot whose first item is <= i
      // (slots without items share their first item with the next slot; slot
      // 0 holds item 0, slots past the batch none).
      const int32_t slots = min(p.batch - base, kPlannerThreads);
      for (int32_t i = tid; i < tot.sum2; i += kPlannerThreads) {
        int32_t lo = 0, hi = slots;
        while (hi - lo > 1) {
          const int32_t mid = (lo + hi) >> 1;
          if (item0_s[mid] <= i) lo = mid; else hi = mid;
        }
        const int32_t bi = base + lo;
        const RequestInfo rq = ri_s[lo];
        const int64_t Si = S_s[lo];
        const plan::Geometry gi = plan::geometry(p, rq.q_len, rq.kv_len);
        const plan::RequestSplit ri_split = plan::request_split(p, rq, gi, Si, payload, whole, bi);
        const int32_t s = i - item0_s[lo];
        int32_t part, prev;
        const int32_t idx = carry2.sum2 + i;
        p.items[idx] = plan::request_item(p, bi, rq, gi, Si, payload, ri_split, row0_s[lo], s, &part);
        if (s == 0) {
          prev = prev_part_s[lo];
        } else {
          (void)plan::request_item(p, bi, rq, gi, Si, payload, ri_split, row0_s[lo], s - 1, &prev);
        }
        for (int32_t q = prev + 1; q <= part; ++q) p.part_begin[q] = idx;
      }
      // The slots are rewritten after the next chunk's scans, whose barriers order it after these reads.
    }
    carry2 = scan_op(carry2, tot);
  }
  const int32_t last = max(carry2.max0, -1);
  for (int32_t q = last + 1 + tid; q <= p.num_parts; q += kPlannerThreads) p.part_begin[q] = carry2.sum2;
  if (tid == 0) {
    *p.combine_count = int32_t(carry2.sum1);
    p.combine_units[carry2.sum1] = int32_t(carry2.sum3);
    *p.status = carry.or0;
  }
}

// ---- Small batches (batch <= 32, the fast case otherwise) ----
// The same schedule as planner_kernel<true>, from the same plan:: arithmetic
// in the same order, but phases B1 and B2 run in warp 0 alone with warp-level
// scans: one request a lane, so every CTA-wide scan of the kFast kernel is
// its warp-0 part (the prefix of the earlier warps is the identity) and the
// results are the same bit for bit (tests: the schedule against the host
// mirror). What goes away is the CTA: the kFast kernel's ~8 barrier phases,
// each waiting for the slowest of 16 warps, cost most of its ~5 us of SM time
// (ncu, thirteenth session: 41% of its stall samples at barriers); here the
// other warps meet warp 0 once, before the parallel emission.
constexpr int kSmallBatch = 32;
constexpr int kSmallThreads = 256;  // emission: one item a thread for <= 32 + num_parts items on 132 SMs

__device__ __forceinline__ ScanVals warp_exclusive_scan(const ScanVals& v, ScanVals* total) {
  const ScanVals inc = warp_inclusive_scan(v);
  *total = ScanVals{__shfl_sync(0xffffffffu, inc.sum0, 31), __shfl_sync(0xffffffffu, inc.sum1, 31),
                    __shfl_sync(0xffffffffu, inc.sum3, 31), __shfl_sync(0xffffffffu, inc.sum2, 31),
                    __shfl_sync(0xffffffffu, inc.max0, 31), __shfl_sync(0xffffffffu, inc.max1, 31),
                    __shfl_sync(0xffffffffu, inc.or0, 31)};
  ScanVals ex = shfl_up(inc, 1);
  if ((threadIdx.x & 31) == 0) ex = scan_identity();
  return ex;
}

__global__ void __launch_bounds__(kSmallThreads) planner_small_kernel(const __grid_constant__ PlannerParams p) {
  __shared__ int32_t item0_s[kSmallBatch], prev_part_s[kSmallBatch], row0_s[kSmallBatch];
  __shared__ RequestInfo ri_s[kSmallBatch];
  __shared__ int64_t S_s[kSmallBatch];
  __shared__ ScanVals tot_s;  // B2's totals for the emission
  __shared__ int64_t payload_s;
  __shared__ bool whole_s;
  const int tid = threadIdx.x;
  if (tid == 0) MLA_DEV_STAMP(timeline::kPlanner);
  MLA_DEV_STAMP_AT_EXIT(timeline::kPlanner + 2);
  if (tid < 32) {
    const int b = tid;  // this lane's request
    const bool active = b < p.batch;
    int32_t o0 = 0, o1 = 0, kv = 0, o_prev = INT_MIN;
    if (active) {
      o0 = p.q_offsets[b];
      o1 = p.q_offsets[b + 1];
      kv = p.kv_lens[b];
      if (b > 0) o_prev = p.q_offsets[b - 1];
    }
    wait_for_primary_grid();  // the page check's flags are complete and visible past this point
    if (tid == 0) MLA_DEV_STAMP(timeline::kPlanner + 1);
    allow_dependent_launch();  // the decode's CTAs may start their set-up (they wait for this grid to end)
    // Phase B1 (planner_kernel: gather_flags, the starts test, request facts, the cost scan).
    uint32_t bits = 0;
    if (active) {
      const uint32_t* f = p.page_flags + int64_t(b) * p.check_chunks;
      for (int32_t k = 0; k < p.check_chunks; ++k) bits |= __ldcg(f + k);
    }
    int32_t prev_max;
    if (!__any_sync(0xffffffffu, active && b > 0 && o_prev > o0)) {
      prev_max = o_prev;  // INT_MIN for b = 0
    } else {
      const int32_t inc = warp_inclusive_max(active ? o0 : INT_MIN);
      prev_max = __shfl_up_sync(0xffffffffu, inc, 1);
      if (b == 0) prev_max = INT_MIN;
    }
    RequestInfo ri{0, 0, kv, 1, -1, 0u, 0};
    plan::Geometry g{0, 0, 0, 0, 0};
    int64_t cost = 0;
    if (active) {
      ri = plan::request_info(p, b, o0, o1, kv, prev_max, bits);
      bits = ri.status;
      g = plan::geometry(p, ri.q_len, kv);
      cost = plan::request_cost(p, ri, g);
    }
    ScanVals c = scan_identity();
    c.sum0 = cost;
    c.max1 = g.tiles;
    c.max0 = int32_t(cost < INT_MAX ? cost : INT_MAX);
    c.or0 = bits;
    warp_scan_b1(&c);  // c.sum0 inclusive; max0 / max1 / or0 warp totals
    int64_t S = __shfl_up_sync(0xffffffffu, c.sum0, 1);
    if (b == 0) S = 0;
    const int64_t total_cost = __shfl_sync(0xffffffffu, c.sum0, 31);
    const int64_t max_cost = max(int64_t(0), int64_t(c.max0));
    const int32_t max_tiles = max(INT_MIN, c.max1);
    const uint32_t status = c.or0;
    // Phase B2.
    bool whole = false;
    const int64_t payload = plan::payload_of(p, total_cost, max_cost, max_tiles, &whole);
    plan::RequestSplit r{0, 0, -1, 0, 0};
    if (active) r = plan::request_split(p, ri, plan::geometry(p, ri.q_len, ri.kv_len), S, payload, whole, b);
    const int32_t n = r.n;
    RequestInfo rc = ri;
    bool comb = false;
    ScanVals tot;
    const ScanVals before = warp_exclusive_scan(b2_values(p, r, active, &rc, &comb), &tot);
    if (active) {
      const int64_t row0 = before.sum0;
      rc.partial_row = n > 1 ? int32_t(row0) : -1;
      p.requests[b] = rc;
      if (comb) {
        p.combine_list[before.sum1] = b;
        p.combine_units[before.sum1] = int32_t(before.sum3);
      }
      item0_s[b] = before.sum2;
      prev_part_s[b] = max(before.max0, -1);
      row0_s[b] = int32_t(row0);
      ri_s[b] = rc;
      S_s[b] = S;
    } else {
      item0_s[b] = INT_MAX;  // never the slot of an item
    }
    if (b == 0) {
      tot_s = tot;
      payload_s = payload;
      whole_s = whole;
      *p.combine_count = int32_t(tot.sum1);
      p.combine_units[tot.sum1] = int32_t(tot.sum3);
      *p.status = status;
    }
  }
  __syncthreads();
  // Emission, as planner_kernel's parallel form: item i belongs to the last
  // request whose first item is <= i.
  const ScanVals tot = tot_s;
  const int64_t payload = payload_s;
  const bool whole = whole_s;
  const int32_t slots = p.batch;
  for (int32_t i = tid; i < tot.sum2; i += kSmallThreads) {
    int32_t lo = 0, hi = slots;
    while (hi - lo > 1) {
      const int32_t mid = (lo + hi) >> 1;
      if (item0_s[mid] <= i) lo = mid; else hi = mid;
    }
    const RequestInfo rq = ri_s[lo];
    const int64_t Si = S_s[lo];
    const plan::Geometry gi = plan::geometry(p, rq.q_len, rq.kv_len);
    const plan::RequestSplit ri_split = plan::request_split(p, rq, gi, Si, payload, whole, lo);
    const int32_t s = i - item0_s[lo];
    int32_t part, prev;
    p.items[i] = plan::request_item(p, lo, rq, gi, Si, payload, ri_split, row0_s[lo], s, &part);
    if (s == 0) {
      prev = prev_part_s[lo];
    } else {
      (void)plan::request_item(p, lo, rq, gi, Si, payload, ri_split, row0_s[lo], s - 1, &prev);
    }
    for (int32_t q = prev + 1; q <= part; ++q) p.part_begin[q] = i;
  }
  const int32_t last = max(tot.max0, -1);
  for (int32_t q = last + 1 + tid; q <= p.num_parts; q += kSmallThreads) p.part_begin[q] = tot.sum2;
}

}  // namespace

cudaError_t launch_planner(const PlannerParams& p, bool pdl, cudaStream_t stream) {
  const bool check = p.page_flags != nullptr && p.batch > 0;
  if (check) {
    const int64_t grid = int64_t(p.batch) * p.check_chunks;
    page_check_kernel<<<unsigned(grid), kCheckThreads, 0, stream>>>(p);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
  }
  const bool fast = check && p.batch <= kPlannerThreads && p.parallel;
  if (fast && p.batch <= kSmallBatch && p.parallel == 1)
    return launch_maybe_pdl(planner_small_kernel, 1, kSmallThreads, 0, pdl, stream, p);
  return launch_maybe_pdl(fast ? planner_kernel<true> : planner_kernel<false>, 1, kPlannerThreads, 0, pdl && check,
                          stream, p);
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

MLA_DEV_TIMELINE_READER(read_planner_stamps)
