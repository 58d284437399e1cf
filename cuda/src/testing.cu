// Test hooks (testing.h).
#include "testing.h"

#include "cuda_status.h"
#include "device_buffer.h"
#include "fp8_bf16.cuh"

namespace mla::cuda_impl {
namespace {

__global__ void fp8_table_kernel(uint16_t* out) {
  const uint32_t c = threadIdx.x;
  out[c] = uint16_t(e4m3_to_bf16_bits(c));
}

}  // namespace

Status fp8_to_bf16_on_device(uint16_t bits[256]) {
  DeviceBuffer buf;
  MLA_RETURN_IF_ERROR(buf.allocate(256 * 2));
  fp8_table_kernel<<<1, 256>>>(buf.as<uint16_t>());
  MLA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  MLA_CUDA_RETURN_IF_ERROR(cudaMemcpy(bits, buf.get(), 256 * 2, cudaMemcpyDeviceToHost));
  return Status::Ok();
}

}  // namespace mla::cuda_impl
