// Device facts (device_info.h).
#include "device_info.h"

#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "config.h"
#include "cuda_status.h"

namespace mla::cuda_impl {
namespace {

// Makes `device` current for the guard's lifetime.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    if (cudaGetDevice(&saved_) != cudaSuccess) saved_ = -1;
    if (saved_ != device) switched_ = cudaSetDevice(device) == cudaSuccess;
  }
  ~DeviceGuard() {
    if (switched_) (void)cudaSetDevice(saved_);
  }

 private:
  int saved_ = -1;
  bool switched_ = false;
};

Status read_device(int device, DeviceInfo* d) {
  d->device = device;
  cudaDeviceProp prop;
  MLA_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, device));
  d->name = prop.name;
  d->cc_major = prop.major;
  d->cc_minor = prop.minor;
  d->sm_count = prop.multiProcessorCount;
  MLA_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&d->smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  const std::string who = "device " + std::to_string(device) + " (" + d->name + ", compute capability " +
                          std::to_string(d->cc_major) + "." + std::to_string(d->cc_minor) + ")";
  const int smem_small = portable_smem_layout(MLA_FORMAT_FP8_ROPE640, kPortableSmall).bytes;  // the largest small one
  if (d->cc_major < 8) {
    d->unusable = who + ": the CUDA backend needs compute capability 8.0 or later";
  } else if (d->smem_optin < smem_small) {
    d->unusable = who + ": " + std::to_string(d->smem_optin) + " bytes of shared memory per block, the kernel needs " +
                  std::to_string(smem_small);
  } else {
    DeviceGuard guard(device);
    if (!kernel_image_present())
      d->unusable = who + ": this build has no machine code for it (see the meson option nvcc_archs)";
  }
  return Status::Ok();
}

}  // namespace

Status device_info(int device, const DeviceInfo** out) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<DeviceInfo>> cache;
  if (device < 0) MLA_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(device);
  if (it == cache.end()) {
    auto info = std::make_unique<DeviceInfo>();
    MLA_RETURN_IF_ERROR(read_device(device, info.get()));
    it = cache.emplace(device, std::move(info)).first;
  }
  *out = it->second.get();
  return Status::Ok();
}

}  // namespace mla::cuda_impl
