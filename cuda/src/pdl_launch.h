// pdl_launch.h - one kernel launcher for the planner, the sm_90a decode
// kernels and the combine: a plain launch, or one with programmatic
// dependent launch (the kernel may start before the previous grid on the
// stream ends; it must execute griddepcontrol.wait before reading anything
// that grid or earlier work wrote).
#pragma once

#include <cuda_runtime.h>

namespace mla::cuda_impl {

// kernel<<<grid, block, smem, stream>>>(args...), with the
// programmatic-serialization attribute when `pdl`. A driver or capture that
// refuses the attribute gets a plain launch in stream order. The launch's
// error is returned and stays recorded, as after a <<<>>> launch, for a
// caller that checks cudaGetLastError (the decode dispatch does).
template <class... KernelArgs, class... Args>
cudaError_t launch_keep_error(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, unsigned smem, bool pdl,
                              cudaStream_t stream, const Args&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
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
  return e;
}

// The same for callers that take the error here (planner, combine): a
// successful launch also collects any error recorded before it returns.
template <class... KernelArgs, class... Args>
cudaError_t launch_maybe_pdl(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, unsigned smem, bool pdl,
                             cudaStream_t stream, const Args&... args) {
  const cudaError_t e = launch_keep_error(kernel, grid, block, smem, pdl, stream, args...);
  if (e != cudaSuccess) return e;
  return cudaGetLastError();
}

}  // namespace mla::cuda_impl
