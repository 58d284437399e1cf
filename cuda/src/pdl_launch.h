// pdl_launch.h - kernel launches with programmatic dependent launch
// (compute capability >= 9.0), shared by the planner, the sm_90a decode
// kernels and the combine.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

namespace mla::cuda_impl {

// Launches kernel<<<grid, block, smem_bytes, stream>>>(args...), with
// programmatic dependent launch when `pdl`: the kernel may start before the
// previous grid on the stream ends, and must execute griddepcontrol.wait
// before reading anything that grid (or an earlier one) wrote. A driver or
// capture that refuses the attribute gets a plain launch in stream order.
// Returns the launch's error and leaves it recorded, as <<<>>> does, for the
// caller's cudaGetLastError.
template <class... Params, class... Args>
cudaError_t launch_ex(void (*kernel)(Params...), dim3 grid, dim3 block, uint32_t smem_bytes, bool pdl,
                      cudaStream_t stream, Args&&... args) {
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
  cudaError_t e = cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
  if (e != cudaSuccess && pdl) {
    (void)cudaGetLastError();  // the refused attribute is an answer, not an error to pass on
    cfg.numAttrs = 0;
    e = cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
  }
  return e;
}

// launch_ex, then the launch's error taken (cleared) and returned.
template <class... Params, class... Args>
cudaError_t launch_maybe_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, uint32_t smem_bytes, bool pdl,
                             cudaStream_t stream, Args&&... args) {
  (void)launch_ex(kernel, grid, block, smem_bytes, pdl, stream, std::forward<Args>(args)...);
  return cudaGetLastError();
}

}  // namespace mla::cuda_impl
