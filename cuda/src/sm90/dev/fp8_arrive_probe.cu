// fp8_arrive_probe.cu - does compute-sanitizer's racecheck order shared-memory
// accesses through a named barrier that one side passes with barrier.arrive
// (non-blocking) and the other with barrier.sync?
//
// Why: up to 50157da the fp8-KV kernel (sm90_fp8_*.cuh) handed data between
// its consumer warpgroups with barrier.arrive on one side (the writer of the
// FP16 content / sigma_k copy and of P / the rescale factors arrived at
// VReady / PReady, their readers arrived at VFree / PFree), and racecheck
// reported 10 hazards on the H200 with that route on, while the BF16 kernel,
// barrier.sync on both sides, is clean. The kernel now syncs on both sides.
// This probe is the hand-off alone (cf. racecheck_probe.cu mode 8): 384
// threads, warpgroup 0 idle, 8 rounds of "warpgroup 1 writes 128 floats ->
// Ready -> warpgroup 2 reads them -> Free", both barriers 256 threads, the
// non-aligned forms of sm90_sync.cuh.
//   mode 0: barrier.sync on both sides of Ready and Free (the kernel now)
//   mode 1: writer arrives at Ready, reader arrives at Free (the kernel up to 50157da)
//
//   nvcc -O2 -lineinfo -gencode=arch=compute_90a,code=sm_90a fp8_arrive_probe.cu -o probe
//   compute-sanitizer --tool racecheck --racecheck-report hazard ./probe 1
// Prints the sum warpgroup 2 read (expected: 8 * 8128 + 128 * 28 = 68608).
// Not yet run on a GPU.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

__device__ __forceinline__ void bsync(unsigned id) {
  __syncwarp();
  asm volatile("barrier.sync %0, 256;" ::"r"(id) : "memory");
}
__device__ __forceinline__ void barrive(unsigned id) {
  __syncwarp();
  asm volatile("barrier.arrive %0, 256;" ::"r"(id) : "memory");
}

__global__ void __launch_bounds__(384, 1) probe(int mode, float* result) {
  __shared__ float data[128];
  const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
  if (wg == 0) return;
  const bool arrive = mode == 1;
  float s = 0.f;
  for (int r = 0; r < 8; ++r) {
    if (wg == 1) {
      if (r > 0) bsync(2);  // Free: the reader is done with round r - 1
      data[t] = float(t + r);
      if (arrive)
        barrive(1);
      else
        bsync(1);
    } else {
      bsync(1);  // Ready
      for (int i = 0; i < 128; ++i) s += data[(t + i) % 128];
      if (arrive)
        barrive(2);
      else
        bsync(2);
    }
  }
  if (wg == 1) bsync(2);  // the reader's last Free
  if (wg == 2 && t == 0) *result = s;
}

int main(int argc, char** argv) {
  const int mode = argc > 1 ? std::atoi(argv[1]) : 0;
  float* result = nullptr;
  if (cudaMalloc(&result, sizeof(float)) != cudaSuccess) return 2;
  probe<<<1, 384>>>(mode, result);
  float host = -1.f;
  if (cudaMemcpy(&host, result, sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess) return 2;
  std::printf("mode %d (%s): warpgroup 2 read a sum of %.0f (expected 68608)\n", mode,
              mode == 1 ? "arrive on the writer's Ready and the reader's Free" : "sync on both sides", host);
  cudaFree(result);
  return host == 68608.f ? 0 : 1;
}
