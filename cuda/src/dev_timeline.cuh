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
// Decode events: entry, after its wait (thread 0); the producer's first tile
// issued, the producer done; the softmax warpgroup's first tile landed, its
// latest tile landed, its latest item's math done, its latest item stored;
// the producer's part_begin read and first item viewed; the softmax
// warpgroup past its latest item-end barrier; in the producer's first tile:
// its page ids read (after the ballot), its bytes announced, its TMA issued;
// the softmax warpgroup's first Q landed.
enum DecodeEvent : int32_t {
  kEntry = 0, kWaited = 1, kFirstIssued = 2, kProducerDone = 3,
  kFirstLanded = 4, kLastLanded = 5, kMathDone = 6, kStored = 7,
  kPartRead = 8, kItemViewed = 9, kItemEndSynced = 10, kFirstPagesRead = 11, kFirstAnnounced = 12,
  kFirstTmaIssued = 13, kFirstQLanded = 14,
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
