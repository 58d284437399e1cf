// mla::cuda::decode_host: the host-memory convenience of the CUDA backend
// (what tools and tests call). Copies the problem to the current device,
// plans, decodes on a private stream and copies the results back.
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_status.h"
#include "device_buffer.h"
#include "mla/cuda.h"
#include "mla/validate.h"

namespace mla::cuda {
namespace {

using cuda_impl::DeviceBuffer;

// A stream and two events, released on scope exit.
struct TimedStream {
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  ~TimedStream() {
    if (start) (void)cudaEventDestroy(start);
    if (stop) (void)cudaEventDestroy(stop);
    if (stream) (void)cudaStreamDestroy(stream);
  }
  Status create() {
    // A blocking stream: it waits for the uploads made through the legacy stream.
    MLA_CUDA_RETURN_IF_ERROR(cudaStreamCreate(&stream));
    MLA_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
    MLA_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
    return Status::Ok();
  }
};

}  // namespace

Status decode_host(const ProblemDesc& d, const ProblemData& host, uint16_t* out, float* lse, uint32_t* status_word,
                   double* kernel_ms, const PlanOptions& options) {
  MLA_RETURN_IF_ERROR(validate_desc(d));
  MLA_RETURN_IF_ERROR(validate_buffers(d, host, out, lse));
  if (status_word) *status_word = 0;
  if (kernel_ms) *kernel_ms = 0;
  const std::string why = unavailable_reason();
  if (!why.empty()) return Status(StatusCode::not_available, why);
  if (d.batch == 0) return Status::Ok();

  // The host knows every q_len: a plan whose grid covers only the longest
  // request (PlanOptions::max_q_len), unless the caller chose a bound.
  PlanOptions opt = options;
  if (opt.max_q_len == 0 && host.q_offsets) {
    int32_t longest = 0;
    for (int32_t b = 0; b < d.batch; ++b) {
      const int64_t len = int64_t(host.q_offsets[b + 1]) - host.q_offsets[b];
      if (len < 0 || len > MLA_MAX_Q_LEN) {  // bad offsets: the device flags them; keep the full grid
        longest = 0;
        break;
      }
      longest = std::max(longest, int32_t(len));
    }
    opt.max_q_len = longest > 0 ? longest : 0;
  }
  DecodePlan plan;
  MLA_RETURN_IF_ERROR(make_plan(d, &plan, opt));

  DeviceBuffer q, q_scales, kv, kv_scales, table, offsets, kv_lens, dout, dlse, ws;
  MLA_RETURN_IF_ERROR(q.upload(host.q, q_elems_bytes(d)));
  if (d.q_format == RowFormat::fp8_rope640)
    MLA_RETURN_IF_ERROR(q_scales.upload(host.q_scales, q_scales_count(d) * 4));
  MLA_RETURN_IF_ERROR(kv.upload(host.kv_pool, kv_pool_bytes(d)));
  if (d.kv_format == RowFormat::fp8_rope640)
    MLA_RETURN_IF_ERROR(kv_scales.upload(host.kv_scales, kv_scales_count(d) * 4));
  MLA_RETURN_IF_ERROR(table.upload(host.page_table, page_table_count(d) * 4));
  MLA_RETURN_IF_ERROR(offsets.upload(host.q_offsets, (int64_t(d.batch) + 1) * 4));
  MLA_RETURN_IF_ERROR(kv_lens.upload(host.kv_lens, int64_t(d.batch) * 4));
  // The caller's out / lse go up too: rows the decode does not write (owned
  // by no request, possible only with bad q_offsets) come back unchanged.
  MLA_RETURN_IF_ERROR(dout.upload(out, out_count(d) * 2));
  MLA_RETURN_IF_ERROR(dlse.upload(lse, lse_count(d) * 4));
  MLA_RETURN_IF_ERROR(ws.allocate(plan.workspace_bytes));

  ProblemData dev;
  dev.q = q.get();
  dev.q_scales = d.q_format == RowFormat::fp8_rope640 ? q_scales.as<float>() : nullptr;
  dev.kv_pool = kv.get();
  dev.kv_scales = d.kv_format == RowFormat::fp8_rope640 ? kv_scales.as<float>() : nullptr;
  dev.page_table = table.as<int32_t>();
  dev.q_offsets = offsets.as<int32_t>();
  dev.kv_lens = kv_lens.as<int32_t>();

  TimedStream ts;
  MLA_RETURN_IF_ERROR(ts.create());
  MLA_CUDA_RETURN_IF_ERROR(cudaEventRecord(ts.start, ts.stream));
  MLA_RETURN_IF_ERROR(plan_and_decode(plan, dev, ws.get(), ws.bytes(), dout.as<uint16_t>(), dlse.as<float>(), ts.stream));
  MLA_CUDA_RETURN_IF_ERROR(cudaEventRecord(ts.stop, ts.stream));
  MLA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ts.stream));
  if (kernel_ms) {
    float ms = 0;
    MLA_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, ts.start, ts.stop));
    *kernel_ms = ms;
  }
  if (out_count(d) > 0) {
    MLA_CUDA_RETURN_IF_ERROR(cudaMemcpy(out, dout.get(), size_t(out_count(d)) * 2, cudaMemcpyDeviceToHost));
    MLA_CUDA_RETURN_IF_ERROR(cudaMemcpy(lse, dlse.get(), size_t(lse_count(d)) * 4, cudaMemcpyDeviceToHost));
  }
  uint32_t word = 0;
  MLA_RETURN_IF_ERROR(read_status(plan, ws.get(), &word, nullptr, ts.stream));
  if (status_word) *status_word = word;
  return Status::Ok();
}

}  // namespace mla::cuda
