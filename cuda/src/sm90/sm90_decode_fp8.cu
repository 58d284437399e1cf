// sm90_decode_fp8.cu - the sm_90a kernel for an fp8_rope640 KV cache, with Q
// fp8_rope640 (content Q.K on the FP8 tensor cores) or bf16, behind a switch:
// the environment variable MLA_SM90_FP8 (1: use it, 0: leave these pairs to
// the portable kernel; unset: kFp8RouteDefault).
#include <cstdlib>
#include <cstring>

#include "sm90_decode.h"
#include "sm90_fp8_kernel.cuh"

namespace mla::cuda_impl {

namespace {

// Off until the kernel has passed the GPU checks of the dev harness
// (sm90/dev/sm90_dev_check check) on the card it will run on.
constexpr bool kFp8RouteDefault = false;

bool fp8_route_enabled() {
  static const bool enabled = [] {
    const char* e = std::getenv("MLA_SM90_FP8");
    if (e == nullptr || *e == '\0') return kFp8RouteDefault;
    return std::strcmp(e, "0") != 0;
  }();
  return enabled;
}

}  // namespace

bool sm90_decode_launch_fp8kv(const DecodeParams& p, cudaStream_t stream) {
  if (!fp8_route_enabled()) return false;
  return sm90::launch_fp8kv(p, stream);
}

}  // namespace mla::cuda_impl
