// racecheck_probe.cu - does compute-sanitizer's racecheck order shared-memory
// accesses through named barriers that only part of the CTA takes part in?
//
// The sm_90a decode kernel hands data between its two consumer warpgroups
// through named barriers of 256 threads (bar.sync 1..3, 256) while the
// producer warpgroup is elsewhere, and racecheck reports RAW / WAR hazards on
// exactly those hand-offs (e.g. a write before bar.sync 3, 256 in one
// warpgroup and a read after bar.sync 3, 256 in the other). This probe is the
// same pattern with nothing else around it: 384 threads, warpgroup 1 writes
// 128 floats, both consumer warpgroups meet at bar.sync 1, 256, warpgroup 2
// reads them; warpgroup 0 never touches the barrier or the data. Mode 1 does
// the same through __syncthreads() (the whole CTA), the control.
//
//   nvcc -O2 -gencode=arch=compute_90a,code=sm_90a racecheck_probe.cu -o probe
//   compute-sanitizer --tool racecheck --racecheck-report hazard ./probe 0   # named barrier
//   compute-sanitizer --tool racecheck --racecheck-report hazard ./probe 1   # __syncthreads
//
// Each run prints the sum warpgroup 2 read (128 * 127 / 2 = 8128 when the
// barrier ordered the accesses). If mode 0 reports hazards and prints 8128,
// racecheck does not model partial named barriers, and the kernel's reports
// of that shape are false positives.
// Result on the H200 (2026-11-27): modes 0 and 1 clean under racecheck and
// mode 0 clean under synccheck - the tools do model partial named barriers.
// Modes 2 and 3 add, one at a time, what else the decode kernel does around
// its hand-offs, to find what synccheck's "divergent threads" there comes from:
//   2: setmaxnreg (warpgroup 0 gives registers back and leaves, the consumer
//      warpgroups claim 216, as sm90_kernel.cuh does);
//   3: before the barrier, warpgroup 2 waits on an mbarrier that warpgroup 1's
//      threads arrive on, with the try_wait loop written as a branch inside
//      the asm (the form sm90_sync.cuh used up to 9d33f7c).
// Result on the H200 (2026-11-27, second session): modes 0, 2, 3 clean under
// both tools, while the kernel's reports stayed. Third session, what the
// kernel still has that the probe had not:
//   4: before the hand-off, warpgroup 1 alone votes with bar.red.or.pred on
//      barrier 4 (128 threads), as the kernel's per-tile non-finite check;
//   5: the hand-off in a loop of 8 rounds as the kernel runs it: warpgroup 1
//      writes, PReady (bar.sync 1, 256), warpgroup 2 reads, PFree (bar.sync
//      2, 256), with warpgroup 1's PFree at two places (in the loop from the
//      second round on, and once after it);
//   6: mode 5 with mode 4's vote in every round.
// Result (H200, third session): modes 4-6 not clean under synccheck
// ("divergent thread(s) in block" at warpgroup 1's PReady), mode 5 included,
// so the vote is not the cause: the two warpgroups reach barrier 1 from
// different instructions, which `.aligned` (bar.sync = barrier.sync.aligned)
// rules out. Modes 7-9 are modes 4-6 with the non-aligned barrier.sync /
// barrier.red forms that sm90_sync.cuh now uses.
// Mode 10 is mode 8 with barrier.arrive on the side that does not wait (the
// writer at Ready, the reader at Free): the form the fp8-KV kernel used up to
// 50157da, when racecheck reported 10 hazards with that route on (it syncs on
// both sides since 79c89f3). Not yet run on a GPU.
// Mode 11 (step 0 of docs/fp8_small_h_design.md, written without a GPU, not
// yet run): mode 8's PReady / PFree loop (non-aligned barrier.sync of 256 on
// both sides) with, between the two hand-offs of every round, a round of an
// mbarrier of 128 arrivals that only warpgroup 1 takes part in, carrying
// generic shared-memory stores and loads between the warps of warpgroup 1
// (the small-H kernel's RedBar / PBar: each thread writes a slot, all 128
// arrive, wait for the phase, read another warp's slots; slots
// double-buffered by round parity). The question: does racecheck order the
// 256-thread hand-offs around such a round (docs/cuda_design.md: with a
// 128-thread barrier.sync there it reported them as RAW hazards)? Pass:
// 0 hazards under racecheck, 0 errors under synccheck, sum 8128.
// All modes under both tools, on the GPU machine:
//   for m in $(seq 0 11); do for t in racecheck synccheck; do
//     compute-sanitizer --tool $t --error-exitcode 1 ./probe $m; done; done
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

// bar.sync ID, 256 (.aligned) or barrier.sync ID, 256 (not).
template <int kId>
__device__ __forceinline__ void arrive256() {
  asm volatile("barrier.arrive %0, 256;" ::"n"(kId) : "memory");
}
template <int kId>
__device__ __forceinline__ void sync256(bool aligned) {
  if (aligned)
    asm volatile("bar.sync %0, 256;" ::"n"(kId) : "memory");
  else
    asm volatile("barrier.sync %0, 256;" ::"n"(kId) : "memory");
}

__global__ void __launch_bounds__(384, 1) probe(int mode, float* result) {
  __shared__ float data[128];
  __shared__ __align__(8) unsigned long long bar;
  const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
  const unsigned bar_addr = static_cast<unsigned>(__cvta_generic_to_shared(&bar));
  if (mode == 3) {
    if (threadIdx.x == 0) asm volatile("mbarrier.init.shared::cta.b64 [%0], 128;" ::"r"(bar_addr) : "memory");
    __syncthreads();
  }
  if (mode == 2) {
    if (wg == 0) {
      asm volatile("setmaxnreg.dec.sync.aligned.u32 64;");
      return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 216;");
  }
  if (mode == 1) {
    if (wg == 1) data[t] = float(t);
    __syncthreads();
    if (wg == 2) {
      float s = 0.f;
      for (int i = 0; i < 128; ++i) s += data[(t + i) % 128];
      if (t == 0) *result = s;
    }
    return;
  }
  if (wg == 0) return;  // the producer's place: never at barrier 1
  if (mode == 11) {
    __shared__ float red[2][128];
    __shared__ __align__(8) unsigned long long red_bar;
    const unsigned red_addr = static_cast<unsigned>(__cvta_generic_to_shared(&red_bar));
    if (threadIdx.x == 128) asm volatile("mbarrier.init.shared::cta.b64 [%0], 128;" ::"r"(red_addr) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    sync256<3>(false);  // both consumer warpgroups: the init is seen before the first arrive
    float s = 0.f;
    bool red_ok = true;
    for (int r = 0; r < 8; ++r) {
      if (wg == 1) {
        if (r > 0) sync256<2>(false);  // PFree: warpgroup 2 read the previous round's data
        data[t] = float(t + r);
        sync256<1>(false);  // PReady
        // The warpgroup-1-only round: generic stores, 128 arrivals, a wait on
        // the round's phase, generic loads of another warp's slots.
        red[r & 1][t] = float(3 * t + r);
        asm volatile("{\n\t.reg .b64 st;\n\tmbarrier.arrive.shared::cta.b64 st, [%0];\n\t}" ::"r"(red_addr)
                     : "memory");
        unsigned done = 0;
        while (!done)
          asm volatile(
              "{\n\t.reg .pred p;\n\tmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
              "selp.u32 %0, 1, 0, p;\n\t}"
              : "=r"(done)
              : "r"(red_addr), "r"(unsigned(r & 1))
              : "memory");
        __syncwarp();
        const int u = (t + 32) % 128;  // a slot of the next warp
        red_ok = red_ok && red[r & 1][u] == float(3 * u + r);
      } else {
        sync256<1>(false);
        for (int i = 0; i < 128; ++i) s += data[(t + i) % 128];
        sync256<2>(false);
      }
    }
    if (wg == 1) sync256<2>(false);
    // The reads of red[] are checked through the same result: a wrong slot
    // makes warpgroup 1 publish a poison that warpgroup 2 adds.
    sync256<3>(false);
    if (wg == 1 && !red_ok) data[0] = 1e9f;
    sync256<3>(false);
    if (wg == 2 && t == 0) *result = s - 7 * 8128.f - 128.f * 28.f + (data[0] > 1e8f ? 1e9f : 0.f);
    return;
  }
  if (mode >= 4) {
    const bool aligned = mode <= 6, arrive = mode == 10;
    const int base_mode = arrive ? 5 : aligned ? mode : mode - 3;
    const bool vote = base_mode != 5, loop = base_mode != 4;
    const int rounds = loop ? 8 : 1;
    float s = 0.f;
    for (int r = 0; r < rounds; ++r) {
      if (wg == 1) {
        if (vote) {
          unsigned any;
          if (aligned)
            asm volatile(
                "{\n\t.reg .pred p, q;\n\tsetp.ne.u32 p, %1, 0;\n\t"
                "bar.red.or.pred q, 4, 128, p;\n\tselp.u32 %0, 1, 0, q;\n\t}"
                : "=r"(any)
                : "r"(unsigned(t == 1000))
                : "memory");
          else
            asm volatile(
                "{\n\t.reg .pred p, q;\n\tsetp.ne.u32 p, %1, 0;\n\t"
                "barrier.red.or.pred q, 4, 128, p;\n\tselp.u32 %0, 1, 0, q;\n\t}"
                : "=r"(any)
                : "r"(unsigned(t == 1000))
                : "memory");
          if (any) data[t] = -1.f;  // never: no thread passes true
        }
        if (loop && r > 0) sync256<2>(aligned);
        data[t] = float(t + r);
        if (arrive)
          arrive256<1>();
        else
          sync256<1>(aligned);
      } else {
        sync256<1>(aligned);
        for (int i = 0; i < 128; ++i) s += data[(t + i) % 128];
        if (arrive)
          arrive256<2>();
        else if (loop)
          sync256<2>(aligned);
      }
    }
    if (wg == 1 && loop) sync256<2>(aligned);
    // Round r adds 8128 + 128 r: 8 rounds give 8 * 8128 + 128 * 28.
    if (wg == 2 && t == 0) *result = loop ? s - 7 * 8128.f - 128.f * 28.f : s;
    return;
  }
  if (wg == 1) data[t] = float(t);
  if (mode == 3) {
    if (wg == 1) {
      asm volatile("{\n\t.reg .b64 st;\n\tmbarrier.arrive.shared::cta.b64 st, [%0];\n\t}" ::"r"(bar_addr) : "memory");
    } else {
      asm volatile(
          "{\n\t.reg .pred done;\n"
          "PROBE_WAIT:\n\t"
          "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], 0;\n\t"
          "@!done bra PROBE_WAIT;\n\t}" ::"r"(bar_addr)
          : "memory");
    }
    __syncwarp();
  }
  asm volatile("bar.sync 1, 256;" ::: "memory");
  if (wg == 2) {
    float s = 0.f;
    for (int i = 0; i < 128; ++i) s += data[(t + i) % 128];
    if (t == 0) *result = s;
  }
}

int main(int argc, char** argv) {
  const int mode = argc > 1 ? std::atoi(argv[1]) : 0;
  float* result = nullptr;
  if (cudaMalloc(&result, sizeof(float)) != cudaSuccess) return 2;
  probe<<<1, 384>>>(mode, result);
  float host = -1.f;
  if (cudaMemcpy(&host, result, sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess) return 2;
  static const char* const kNames[] = {"bar.sync 1, 256", "__syncthreads", "setmaxnreg + bar.sync 1, 256",
                                       "asm mbarrier wait loop + bar.sync 1, 256",
                                       "bar.red.or 4, 128 in warpgroup 1 + bar.sync 1, 256",
                                       "PReady / PFree loop of 8 rounds",
                                       "PReady / PFree loop + bar.red.or vote",
                                       "barrier.red.or 4, 128 + barrier.sync 1, 256 (non-aligned)",
                                       "PReady / PFree loop, non-aligned barrier.sync",
                                       "PReady / PFree loop + vote, non-aligned",
                                       "PReady / PFree loop, barrier.arrive on the side that does not wait",
                                       "PReady / PFree loop + a 128-arrival mbarrier round of warpgroup 1"};
  std::printf("mode %d (%s): warpgroup 2 read a sum of %.0f (expected 8128)\n", mode,
              kNames[mode >= 0 && mode <= 11 ? mode : 0], host);
  cudaFree(result);
  return host == 8128.f ? 0 : 1;
}
