// dev_cuda.h - small CUDA helpers of the sm_90a development harness:
// checked calls, typed device buffers, event timing with medians.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define DEV_CHECK(call)                                                                            \
  do {                                                                                             \
    cudaError_t e_ = (call);                                                                       \
    if (e_ != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::exit(2);                                                                                \
    }                                                                                              \
  } while (0)

// After a launch: configuration errors now, execution errors at the next sync.
#define DEV_CHECK_LAUNCH() DEV_CHECK(cudaGetLastError())

namespace mla::sm90_dev {

template <typename T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t count = 0;
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) { resize(n); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  void resize(size_t n) {
    if (ptr) DEV_CHECK(cudaFree(ptr));
    ptr = nullptr;
    count = n;
    if (n) DEV_CHECK(cudaMalloc(&ptr, n * sizeof(T)));
  }
  void upload(const T* host, size_t n) {
    if (n > count) resize(n);
    if (n) DEV_CHECK(cudaMemcpy(ptr, host, n * sizeof(T), cudaMemcpyHostToDevice));
  }
  void upload(const std::vector<T>& v) { upload(v.data(), v.size()); }
  std::vector<T> download() const {
    std::vector<T> v(count);
    if (count) DEV_CHECK(cudaMemcpy(v.data(), ptr, count * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
};

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Times `fn(i)` (which enqueues work on `stream`) `reps` times after `warmup`
// untimed calls; returns the median in microseconds. All runs are enqueued
// back to back, so the device never waits for the host between them.
template <typename Fn>
double time_median_us(cudaStream_t stream, int warmup, int reps, Fn fn) {
  for (int i = 0; i < warmup; ++i) fn(i);
  std::vector<cudaEvent_t> ev(2 * size_t(reps));
  for (auto& e : ev) DEV_CHECK(cudaEventCreate(&e));
  for (int i = 0; i < reps; ++i) {
    DEV_CHECK(cudaEventRecord(ev[2 * i], stream));
    fn(warmup + i);
    DEV_CHECK(cudaEventRecord(ev[2 * i + 1], stream));
  }
  DEV_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> t(reps);
  for (int i = 0; i < reps; ++i) {
    float ms = 0;
    DEV_CHECK(cudaEventElapsedTime(&ms, ev[2 * i], ev[2 * i + 1]));
    t[i] = 1000.0 * ms;
  }
  for (auto& e : ev) DEV_CHECK(cudaEventDestroy(e));
  return median(t);
}

}  // namespace mla::sm90_dev
