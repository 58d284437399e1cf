// sm90_sync.cuh - thin typed wrappers over the Hopper synchronisation and copy
// PTX the sm_90a decode kernel uses: mbarriers, cp.async with zero fill and
// its mbarrier arrival, proxy fences, named barriers, setmaxnreg.
//
// Device code only, and only meaningful in the sm_90a pass: the callers guard
// their bodies with MLA_SM90_DEVICE (see sm90_config.cuh).
#pragma once

#include <cstdint>

namespace mla::cuda_impl::sm90 {

// Shared-memory address as the 32-bit value PTX's .shared instructions take.
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ---- mbarrier (one 8-byte word in shared memory) ----

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(arrivals) : "memory");
}

// Makes the initialised barriers visible to the other threads (and to the
// asynchronous proxy) before anyone arrives on them; follow with __syncthreads.
__device__ __forceinline__ void mbar_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile(
      "{\n\t.reg .b64 st;\n\t"
      "mbarrier.arrive.shared::cta.b64 st, [%0];\n\t}" ::"r"(bar)
      : "memory");
}

// Whether the phase with the given parity has completed (try_wait may also
// return false after a hardware-chosen time slice).
__device__ __forceinline__ bool mbar_try_wait(uint32_t bar, uint32_t parity) {
  uint32_t done;
  asm volatile(
      "{\n\t.reg .pred p;\n\t"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
      "selp.u32 %0, 1, 0, p;\n\t}"
      : "=r"(done)
      : "r"(bar), "r"(parity)
      : "memory");
  return done != 0;
}

// Blocks until the phase with the given parity has completed. Phase k (k = 0,
// 1, ...) of a barrier completes when its k-th round of arrivals is in, so a
// waiter for round k passes parity k & 1.
// The retry loop is C++, not a branch inside the asm: lanes may leave it at
// different times, and only a loop the compiler sees gets the reconvergence
// point that the .aligned instructions after it (bar.sync, wgmma) require.
// (With the branch inside the asm, synccheck reported divergent warps at the
// consumers' named barriers.)
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  while (!mbar_try_wait(bar, parity)) {
  }
}

// ---- cp.async (16 bytes, L2 only) ----

// Copies 16 bytes global -> shared; src_bytes = 0 reads nothing and writes
// zeros, which is how rows outside the valid range (or on a bad page) become
// finite zeros without touching memory.
__device__ __forceinline__ void cp_async_16_sized(uint32_t dst, const void* src, uint32_t src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(src_bytes)
               : "memory");
}

// Arrives on the barrier once every cp.async this thread issued so far has
// landed. .noinc: the arrival counts against the barrier's expected count, so
// a barrier fed by N copying threads is initialised with N.
__device__ __forceinline__ void cp_async_arrive_noinc(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(bar) : "memory");
}

// ---- proxies and barriers ----

// Orders this thread's generic-proxy shared-memory accesses against later
// async-proxy ones (wgmma operand reads). Writers of wgmma operands run it
// before the barrier that hands the data over; readers of cp.async-filled
// tiles run it after their wait, as a second line of defence.
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}

// Named barriers 1..15 (0 is __syncthreads). `threads` counts every thread
// taking part, arrivers and waiters together; a multiple of 32.
// The non-.aligned forms (barrier.sync / barrier.arrive / barrier.red, not
// bar.*): `.aligned` promises that every thread of the CTA executes the same
// barrier instruction, and in this kernel the two consumer warpgroups meet at
// a barrier from different instructions (each warpgroup's own code path; the
// softmax WG's PFree even from two places). compute-sanitizer's synccheck
// reports that as "divergent thread(s) in block" (seen on the H200 in a
// probe with nothing but such a PReady / PFree loop:
// cuda/src/sm90/dev/racecheck_probe.cu modes 5 and 8).
// Each begins with __syncwarp(): after a lane-0-only branch (an mbarrier
// arrive) the lanes of a warp need not have reconverged, and the barrier
// counts whole warps.
__device__ __forceinline__ void named_sync(uint32_t id, uint32_t threads) {
  __syncwarp();
  asm volatile("barrier.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_arrive(uint32_t id, uint32_t threads) {
  __syncwarp();
  asm volatile("barrier.arrive %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

// barrier.sync with an OR over the participants' predicates: true in every
// participant when any passed true.
__device__ __forceinline__ bool named_sync_or(uint32_t id, uint32_t threads, bool pred) {
  __syncwarp();
  uint32_t any;
  asm volatile(
      "{\n\t.reg .pred p, q;\n\t"
      "setp.ne.u32 p, %1, 0;\n\t"
      "barrier.red.or.pred q, %2, %3, p;\n\t"
      "selp.u32 %0, 1, 0, q;\n\t}"
      : "=r"(any)
      : "r"(uint32_t(pred)), "r"(id), "r"(threads)
      : "memory");
  return any != 0;
}

// ---- registers ----

template <uint32_t kRegs>
__device__ __forceinline__ void regs_release() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(kRegs));
}
template <uint32_t kRegs>
__device__ __forceinline__ void regs_claim() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(kRegs));
}

// ---- arithmetic ----

// 2^x with the SFU (about 2 ulp); exp2(-inf) = 0.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Two floats -> packed BF16 pair, round to nearest even; lo in the low half.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

}  // namespace mla::cuda_impl::sm90
