// The reliability suite on the CUDA backend (GPU machine; exit 77 without a
// usable device). The host API is cuda::decode_host; device-side metadata
// goes through the device-pointer API (make_plan, run_planner + decode,
// read_status) with the metadata written to device memory after upload. The
// workspace starts as garbage, so the planner must write all that decode
// reads. Run it under compute-sanitizer (memcheck, racecheck, synccheck) on
// the GPU machine: tools/gpu-check.
#include <cuda_runtime.h>

#include <vector>

#include "backend.h"
#include "mla/cuda.h"
#include "tally.h"

namespace rel {

namespace {

// Device memory released on scope exit.
struct DeviceMem {
  void* ptr = nullptr;
  ~DeviceMem() {
    if (ptr) (void)cudaFree(ptr);
  }
  mla::Status alloc(size_t bytes) {
    if (bytes == 0) return mla::Status::Ok();
    const cudaError_t e = cudaMalloc(&ptr, bytes);
    if (e != cudaSuccess) return mla::Status(mla::StatusCode::device_error, cudaGetErrorString(e));
    return mla::Status::Ok();
  }
  mla::Status upload(const void* host, size_t bytes) {
    MLA_RETURN_IF_ERROR(alloc(bytes));
    if (bytes == 0) return mla::Status::Ok();
    const cudaError_t e = cudaMemcpy(ptr, host, bytes, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) return mla::Status(mla::StatusCode::device_error, cudaGetErrorString(e));
    return mla::Status::Ok();
  }
  mla::Status download(void* host, size_t bytes) const {
    if (bytes == 0) return mla::Status::Ok();
    const cudaError_t e = cudaMemcpy(host, ptr, bytes, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) return mla::Status(mla::StatusCode::device_error, cudaGetErrorString(e));
    return mla::Status::Ok();
  }
};

template <class T>
size_t bytes_of(const std::vector<T>& v) {
  return v.size() * sizeof(T);
}

class CudaBackend : public Backend {
 public:
  std::string name() const override { return "cuda"; }

  mla::Status decode(const mla::test::HostProblem& p, Run* r) override {
    return mla::cuda::decode_host(p.desc, p.data(), r->out.data(), r->lse.data(), &r->status_word);
  }

  bool has_device_metadata() const override { return true; }

  mla::Status decode_device_metadata(const mla::test::HostProblem& p, const Metadata& m, Run* r) override {
    mla::cuda::DecodePlan plan;
    MLA_RETURN_IF_ERROR(mla::cuda::make_plan(p.desc, &plan));
    DeviceMem q, q_scales, kv, kv_scales, table, offsets, kv_lens, out, lse, ws;
    MLA_RETURN_IF_ERROR(q.upload(p.q.data(), bytes_of(p.q)));
    MLA_RETURN_IF_ERROR(q_scales.upload(p.q_scales.data(), bytes_of(p.q_scales)));
    MLA_RETURN_IF_ERROR(kv.upload(p.kv_pool.data(), bytes_of(p.kv_pool)));
    MLA_RETURN_IF_ERROR(kv_scales.upload(p.kv_scales.data(), bytes_of(p.kv_scales)));
    MLA_RETURN_IF_ERROR(table.upload(m.page_table.data(), bytes_of(m.page_table)));
    MLA_RETURN_IF_ERROR(offsets.upload(m.q_offsets.data(), bytes_of(m.q_offsets)));
    MLA_RETURN_IF_ERROR(kv_lens.upload(m.kv_lens.data(), bytes_of(m.kv_lens)));
    MLA_RETURN_IF_ERROR(out.upload(r->out.data(), bytes_of(r->out)));  // poisoned
    MLA_RETURN_IF_ERROR(lse.upload(r->lse.data(), bytes_of(r->lse)));
    const std::vector<uint8_t> garbage(size_t(plan.workspace_bytes), 0xAB);
    MLA_RETURN_IF_ERROR(ws.upload(garbage.data(), garbage.size()));

    mla::ProblemData d;
    d.q = q.ptr;
    d.q_scales = static_cast<const float*>(q_scales.ptr);
    d.kv_pool = kv.ptr;
    d.kv_scales = static_cast<const float*>(kv_scales.ptr);
    d.page_table = static_cast<const int32_t*>(table.ptr);
    d.q_offsets = static_cast<const int32_t*>(offsets.ptr);
    d.kv_lens = static_cast<const int32_t*>(kv_lens.ptr);
    MLA_RETURN_IF_ERROR(mla::cuda::plan_and_decode(plan, d, ws.ptr, plan.workspace_bytes,
                                                   static_cast<uint16_t*>(out.ptr), static_cast<float*>(lse.ptr),
                                                   nullptr));
    r->request_status.assign(size_t(p.desc.batch), 0);
    MLA_RETURN_IF_ERROR(mla::cuda::read_status(plan, ws.ptr, &r->status_word, r->request_status.data(), nullptr));
    MLA_RETURN_IF_ERROR(out.download(r->out.data(), bytes_of(r->out)));
    return lse.download(r->lse.data(), bytes_of(r->lse));
  }
};

}  // namespace

Backend& backend() {
  static CudaBackend b;
  return b;
}

}  // namespace rel

int main(int argc, char** argv) { return rel::run_and_report(argc, argv, mla::cuda::unavailable_reason); }
