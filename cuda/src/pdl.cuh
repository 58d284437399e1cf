// pdl.cuh - programmatic dependent launch (PDL), shared by the planner, the
// decode kernels and the combine: a grid launched with it may start while the
// previous grid on the stream still runs, so it must execute
// wait_for_primary_grid() before it reads that grid's results or writes what
// that grid reads. Both device calls are no-ops in a grid launched without
// PDL and before sm_90.
#pragma once

#include <cuda_runtime.h>

namespace mla::cuda_impl {

// Lets the next grid on the stream start (its own wait still orders it).
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Waits until the previous grid has completed and its writes are visible.
__device__ __forceinline__ void wait_for_primary_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Launches kernel<<<grid, block, smem_bytes, stream>>>(args...), with PDL when
// `pdl`. A driver or capture that refuses the attribute gets a plain launch
// in stream order. A failed launch returns its error and leaves it as the
// thread's last CUDA error, as a <<<>>> launch would.
template <class... Params, class... Args>
cudaError_t launch_maybe_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem_bytes, bool pdl,
                             cudaStream_t stream, const Args&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem_bytes;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  cudaError_t e = cudaLaunchKernelEx(&cfg, kernel, args...);
  if (e != cudaSuccess && pdl) {
    (void)cudaGetLastError();
    cfg.numAttrs = 0;
    e = cudaLaunchKernelEx(&cfg, kernel, args...);
  }
  if (e != cudaSuccess) return e;
  return cudaGetLastError();
}

}  // namespace mla::cuda_impl
