// device_info.h - what the backend needs to know about a CUDA device, read
// once per device and cached.
#pragma once

#include <string>

#include "mla/status.h"

namespace mla::cuda_impl {

struct DeviceInfo {
  int device = -1;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  int smem_optin = 0;    // bytes of shared memory a block may opt in to
  std::string name;
  std::string unusable;  // "" when this build's kernels run on the device; else why not
};

// The facts of `device` (-1: the current device). Thread-safe.
Status device_info(int device, const DeviceInfo** out);

// Whether this binary holds machine code the current device can run
// (defined in dispatch.cu, which nvcc compiles with the same targets as the kernels).
bool kernel_image_present();

}  // namespace mla::cuda_impl
