// sm90_tma.cuh - the bulk tensor copy (TMA) pieces of the sm_90a kernels:
// loading a box of the KV pool's tensor map into shared memory with
// completion on an mbarrier, and announcing the bytes a phase of that
// barrier waits for.
//
// The KV pool is described (sm90_tma_map.h, built on the host) either as 8-row
// groups, a 4-D tensor whose box of whole groups lands in the row-group layout
// of sm90_config.cuh (the default: tma_load_row_groups), or as a 2-D tensor
// [rows][row bytes] whose box of one 128-byte column block x R rows lands as R
// rows of one column block of a tile (the A/B builds: tma_load_2d); 128-byte
// swizzle either way, the layout wgmma reads.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace mla::cuda_impl::sm90 {

// Adds `bytes` to the transactions the current phase waits for, and arrives.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile(
      "{\n\t.reg .b64 st;\n\t"
      "mbarrier.arrive.expect_tx.shared::cta.b64 st, [%0], %1;\n\t}" ::"r"(bar),
      "r"(bytes)
      : "memory");
}

// KV boxes carry an L2 evict-first policy when one CTA reads each KV tile
// (one M tile a request, gridDim.y == 1): the row is read once a call, so it
// should not displace what is read again (Q, page tables, the partials the
// combine reads). With several M tiles (gridDim.y > 1) the CTAs of the other
// M tiles read the same tile again, mostly from L2, so there the copy is
// plain (evict-last there was slower: H128 q2 580 vs 571 us). H200, graph
// replay (docs/perf_notes.md "Lead, seventh session"): B1 kv65536 49.1 ->
// 44.9 us, fp8 H16 107.7 -> 104.7, fp8 B1 kv131072 50.8 -> 45.4, H16 q1 -0.1
// to -1.7% by card; evict-first everywhere made H64 q2 (2 M tiles) 5% slower.
// The cp.async rows (pages < 8) stay plain: tagged, page 1 went 237 -> 261 us.
// MLA_SM90_KV_EVICT_FIRST=0 builds the plain copy everywhere (A/B).
#ifndef MLA_SM90_KV_EVICT_FIRST
#define MLA_SM90_KV_EVICT_FIRST 1
#endif

__device__ __forceinline__ uint64_t evict_first_policy() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
  return policy;
}

// Box at (column x, row y) of the map -> shared memory at dst; the barrier's
// transaction count drops by the box's bytes when it has landed.
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap* map, int32_t x, int32_t y,
                                            uint32_t bar) {
#if MLA_SM90_KV_EVICT_FIRST
  if (gridDim.y == 1) {
    const uint64_t policy = evict_first_policy();
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1, {%2, "
        "%3}], [%4], %5;" ::"r"(dst),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(bar), "l"(policy)
        : "memory");
    return;
  }
#endif
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::"r"(
          dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(bar)
      : "memory");
}

// The row-group map (MLA_SM90_KV_ROWGROUPS, sm90_tma_map.h): the box of
// 8-row groups starting at `group` -> dst, [group][column block][8 rows][128 B].
__device__ __forceinline__ void tma_load_row_groups(uint32_t dst, const CUtensorMap* map, int32_t group,
                                                    uint32_t bar) {
#if MLA_SM90_KV_EVICT_FIRST
  if (gridDim.y == 1) {
    const uint64_t policy = evict_first_policy();
    asm volatile(
        "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1, {0, "
        "0, 0, %2}], [%3], %4;" ::"r"(dst),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(group), "r"(bar), "l"(policy)
        : "memory");
    return;
  }
#endif
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {0, 0, 0, %2}], "
      "[%3];" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(group), "r"(bar)
      : "memory");
}

// Asks L2 to fetch `bytes` (a multiple of 16) at src ahead of use; no
// completion, no shared memory: it lets more of the stream be in flight than
// the shared-memory stages hold.
__device__ __forceinline__ void l2_prefetch(const void* src, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(reinterpret_cast<uint64_t>(src)), "r"(bytes)
               : "memory");
}

}  // namespace mla::cuda_impl::sm90
