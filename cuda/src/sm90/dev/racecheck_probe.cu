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
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

__global__ void probe(int mode, float* result) {
  __shared__ float data[128];
  const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
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
  if (wg == 1) data[t] = float(t);
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
  std::printf("mode %d (%s): warpgroup 2 read a sum of %.0f (expected 8128)\n", mode,
              mode == 1 ? "__syncthreads" : "bar.sync 1, 256", host);
  cudaFree(result);
  return host == 8128.f ? 0 : 1;
}
