// sm90_launch.cuh - host side of the three sm_90a decode kernels (BF16,
// M = 64 fp8-KV, small-H fp8-KV), written once: whether a device runs them,
// and their launch with programmatic dependent launch.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <utility>

#include "../pdl_launch.h"
#include "sm90_config.cuh"

namespace mla::cuda_impl::sm90 {

// True when device `dev` has compute capability 9.0 and the binary carries
// sm_90a code for `kKernel`: the dynamic shared-memory attribute call fails
// otherwise, and a refused attribute is an answer, not an error to pass on
// (the sticky-free error is cleared). Cached per kernel and device: 0 unknown,
// 1 yes, 2 no. `smem_bytes` must be the same on every call for one kernel.
template <auto kKernel>
bool kernel_device_ready(int dev, int smem_bytes) {
  static std::atomic<int> state[64];
  if (dev < 0 || dev >= 64) return false;
  int s = state[dev].load(std::memory_order_acquire);
  if (s == 0) {
    int major = 0, minor = 0;
    bool ok = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
              cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
              major == 9 && minor == 0;
    if (ok) ok = cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes) == cudaSuccess;
    if (!ok) (void)cudaGetLastError();
    s = ok ? 1 : 2;
    state[dev].store(s, std::memory_order_release);
  }
  return s == 1;
}

// The decode kernels' launch: programmatic dependent launch (their CTAs may
// set up barriers while the planner still runs; each waits for it at
// pdl_wait_then_trigger, sm90_sync.cuh, before reading global memory).
// Launch errors stay recorded for the caller's cudaGetLastError.
#ifndef MLA_SM90_PDL
#define MLA_SM90_PDL 1  // 0: plain launches (A/B builds)
#endif
template <class... Params, class... Args>
void launch_with_pdl(void (*kernel)(Params...), dim3 grid, uint32_t smem_bytes, cudaStream_t stream,
                     Args&&... args) {
  (void)launch_ex(kernel, grid, dim3(kThreads), smem_bytes, MLA_SM90_PDL != 0, stream, std::forward<Args>(args)...);
}

}  // namespace mla::cuda_impl::sm90
