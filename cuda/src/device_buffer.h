// device_buffer.h - an owned device allocation (host code).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "cuda_status.h"

namespace mla::cuda_impl {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { reset(); }

  // Allocates `bytes` (at least 1, so the pointer is never null).
  Status allocate(int64_t bytes) {
    reset();
    if (bytes < 1) bytes = 1;
    MLA_CUDA_RETURN_IF_ERROR(cudaMalloc(&ptr_, size_t(bytes)));
    bytes_ = bytes;
    return Status::Ok();
  }
  // Allocates and copies `bytes` from host memory (nothing copied when bytes == 0).
  Status upload(const void* host, int64_t bytes) {
    MLA_RETURN_IF_ERROR(allocate(bytes));
    if (bytes > 0 && host) MLA_CUDA_RETURN_IF_ERROR(cudaMemcpy(ptr_, host, size_t(bytes), cudaMemcpyHostToDevice));
    return Status::Ok();
  }
  void reset() {
    if (ptr_) (void)cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  void* get() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  int64_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace mla::cuda_impl
