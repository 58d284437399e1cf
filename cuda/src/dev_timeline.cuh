// dev_timeline.cuh - measurement builds only (-DMLA_DEV_TIMELINE in cuda_args
// and cpp_args): %globaltimer stamps of each kernel's phases, per CTA, so a
// graph replay's critical path can be read kernel by kernel (which ncu, one
// kernel at a time with caches flushed, cannot show). Each translation unit
// that stamps has its own device array (the library is not built with
// relocatable device code) and one reader, MLA_DEV_TIMELINE_READER; `mla
// bench` clears them before a mode's timed series and writes the last
// replay's stamps to $MLA_DEV_TIMELINE_OUT/<config>-<mode>.tl
// (tools/bench/bench_cuda_run.cpp). In a real build every macro is empty.
#pragma once

#include <cstdint>

namespace mla::cuda_impl::timeline {

// Slot bases; a CTA beyond a range's CTA count stamps nothing.
constexpr int32_t kCheck = 0;        // page check: [cta < 256][2] entry, exit
constexpr int32_t kPlanner = 512;    // planner (thread 0): entry, after its wait, exit, B1 done, B2's scans done (one-CTA kernel)
constexpr int32_t kDecode = 1024;    // decode, M tile 0: [cta < 256][kDecodeEvents]
constexpr int32_t kDecodeEvents = 16;
constexpr int32_t kCombine = kDecode + 256 * kDecodeEvents;  // combine: [cta < 512][3] entry, after its wait, exit
constexpr int32_t kSlots = kCombine + 512 * 3;
// Decode events (thread 0 of the role named; "latest": overwritten each time,
// so the last one stays).
enum DecodeEvent : int32_t {
  kEntry = 0,           // kernel entry
  kWaited = 1,          // past the PDL wait
  kFirstIssued = 2,     // producer: the first tile's load_kv_tile returned
  kProducerDone = 3,    // producer: every stage released
  kFirstLanded = 4,     // softmax WG: the first tile landed
  kLastLanded = 5,      // softmax WG: the latest tile landed
  kMathDone = 6,        // softmax WG: the latest item's P.V done (both WGs)
  kStored = 7,          // softmax WG: the latest item's output and LSE stored
  kPartRead = 8,        // producer: part_begin read
  kItemViewed = 9,      // producer: the first item viewed (items[], requests[])
  kItemEndSynced = 10,  // softmax WG: past the latest item-end barrier
  kFirstPagesRead = 11, // producer: the first tile's page ids read (after the ballot)
  kFirstAnnounced = 12, // producer: the first tile's bytes announced on its barrier
  kFirstTmaIssued = 13, // producer: the first tile's TMA issued
  kFirstQLanded = 14,   // softmax WG: the first Q tile landed
};

}  // namespace mla::cuda_impl::timeline

// The device part (tools/bench includes this header from C++ for the slots).
#if defined(MLA_DEV_TIMELINE) && defined(__CUDACC__)
#include <cuda_runtime.h>

static __device__ unsigned long long g_mla_timeline[mla::cuda_impl::timeline::kSlots];

__device__ __forceinline__ void mla_dev_stamp(int32_t slot) {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  g_mla_timeline[slot] = t;
}
// Stamp `event` of this CTA in the range at `base` (`per` events a CTA, CTAs < limit).
#define MLA_DEV_STAMP_CTA(base, per, limit, event)                          \
  do {                                                                      \
    if (blockIdx.x < unsigned(limit) && blockIdx.y == 0)                    \
      mla_dev_stamp((base) + int32_t(blockIdx.x) * (per) + (event));        \
  } while (0)
#define MLA_DEV_STAMP(slot) mla_dev_stamp(slot)
// Decode event `event` (a DecodeEvent name) of this CTA.
#define MLA_DEV_STAMP_DECODE(event)                                                                    \
  MLA_DEV_STAMP_CTA(::mla::cuda_impl::timeline::kDecode, ::mla::cuda_impl::timeline::kDecodeEvents, 256, \
                    ::mla::cuda_impl::timeline::event)
// Stamps `slot` when the enclosing scope ends (every return path), in thread 0.
struct MlaDevStampAtExit {
  int32_t slot;
  __device__ ~MlaDevStampAtExit() {
    if (threadIdx.x == 0 && slot >= 0) mla_dev_stamp(slot);
  }
};
#define MLA_DEV_STAMP_AT_EXIT(slot) const MlaDevStampAtExit mla_dev_stamp_at_exit_{slot}
// Defines host function `name(host, clear)`: copies this unit's stamps to
// host[kSlots] (when host) and then zeroes them (when clear).
#define MLA_DEV_TIMELINE_READER(name)                                                        \
  namespace mla::cuda_impl::timeline {                                                       \
  void name(unsigned long long* host, bool clear) {                                          \
    if (host) (void)cudaMemcpyFromSymbol(host, g_mla_timeline, sizeof(g_mla_timeline));      \
    if (clear) {                                                                             \
      static unsigned long long zeros[kSlots];                                               \
      (void)cudaMemcpyToSymbol(g_mla_timeline, zeros, sizeof(zeros));                        \
    }                                                                                        \
  }                                                                                          \
  }
#else
#define MLA_DEV_STAMP_CTA(base, per, limit, event) ((void)0)
#define MLA_DEV_STAMP(slot) ((void)0)
#define MLA_DEV_STAMP_DECODE(event) ((void)0)
#define MLA_DEV_STAMP_AT_EXIT(slot) ((void)0)
#define MLA_DEV_TIMELINE_READER(name)
#endif
