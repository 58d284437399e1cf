// sm90_dependent_launch.cuh - the sm_90a decode kernels launched by
// programmatic dependent launch after the planner (MLA_DECODE_PDL, config.h):
// the host side (the launch attribute) and the device side (the wait each
// CTA passes before its first global read).
#pragma once

#include <cuda_runtime.h>

#include "../config.h"
#include "../pdl_launch.h"

namespace mla::cuda_impl::sm90 {

// Device side: every global read of a decode CTA comes after this. The CTA
// may have started while the planner was still writing the plan; the wait
// returns once the previous grid on the stream has completed and its writes
// are visible (at once in a plain launch).
__device__ __forceinline__ void wait_for_plan() {
#if MLA_DECODE_PDL && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Host side: the decode kernels' launch, with the dependent-launch attribute
// when MLA_DECODE_PDL; its error stays recorded for the dispatch's
// cudaGetLastError, as after a <<<>>> launch.
template <class... KernelArgs, class... Args>
cudaError_t launch_decode_kernel(void (*kernel)(KernelArgs...), dim3 grid, unsigned threads, unsigned smem,
                                 cudaStream_t stream, const Args&... args) {
  return launch_keep_error(kernel, grid, dim3(threads), smem, MLA_DECODE_PDL != 0, stream, args...);
}

}  // namespace mla::cuda_impl::sm90
