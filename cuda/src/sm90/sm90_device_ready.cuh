// sm90_device_ready.cuh - whether a device runs one of the sm_90a kernels.
// One helper for the BF16, M = 64 fp8-KV and small-H fp8-KV kernels, so the
// rule (and its cache) is written once.
#pragma once

#include <cuda_runtime.h>

#include <atomic>

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

}  // namespace mla::cuda_impl::sm90
