// Allocation and random fill of the rotation sets (bench_cuda_inputs.h).
#include "bench_cuda_inputs.h"

#include "bench_cuda_check.h"
#include "bench_fill.h"

namespace mla::tools::bench {
namespace {

int64_t align256(int64_t x) { return (x + 255) / 256 * 256; }

template <class T>
T* at(const DeviceBuffer& b, int64_t stride, int32_t s) {
  return reinterpret_cast<T*>(b.as<char>() + stride * s);
}

}  // namespace

Status DeviceSets::create(const BenchConfig& c, const ProblemDesc& d, int32_t num_sets, int64_t workspace_bytes,
                          uint64_t seed, cudaStream_t stream, std::unique_ptr<DeviceSets>* out) {
  std::unique_ptr<DeviceSets> p(new DeviceSets);
  p->desc_ = d;
  p->num_sets_ = num_sets;
  p->meta_ = make_metadata(c, d, num_sets, seed);
  const bool fp8_q = d.q_format == RowFormat::fp8_rope640, fp8_kv = d.kv_format == RowFormat::fp8_rope640;
  const int64_t kv_rows = int64_t(d.num_pages) * d.page_size;
  const int64_t q_rows = int64_t(d.total_q) * d.num_heads;
  p->q_stride_ = align256(q_elems_bytes(d));
  p->qs_stride_ = align256(int64_t(d.total_q) * 4);
  p->pt_stride_ = align256(page_table_count(d) * 4);
  p->qo_stride_ = align256((int64_t(d.batch) + 1) * 4);
  p->kl_stride_ = align256(int64_t(d.batch) * 4);
  p->out_stride_ = align256(out_count(d) * 2);
  p->lse_stride_ = align256(lse_count(d) * 4);
  p->ws_stride_ = align256(workspace_bytes);

  MLA_RETURN_IF_ERROR(allocate(&p->pool_, kv_pool_bytes(d), "the KV pool"));
  if (fp8_kv) MLA_RETURN_IF_ERROR(allocate(&p->kv_scales_, kv_rows * 4, "the KV scales"));
  MLA_RETURN_IF_ERROR(allocate(&p->q_, p->q_stride_ * num_sets, "Q"));
  if (fp8_q) MLA_RETURN_IF_ERROR(allocate(&p->q_scales_, p->qs_stride_ * num_sets, "the Q scales"));
  MLA_RETURN_IF_ERROR(allocate(&p->page_table_, p->pt_stride_ * num_sets, "the page tables"));
  MLA_RETURN_IF_ERROR(allocate(&p->q_offsets_, p->qo_stride_ * num_sets, "q_offsets"));
  MLA_RETURN_IF_ERROR(allocate(&p->kv_lens_, p->kl_stride_ * num_sets, "kv_lens"));
  MLA_RETURN_IF_ERROR(allocate(&p->out_, p->out_stride_ * num_sets, "the outputs"));
  MLA_RETURN_IF_ERROR(allocate(&p->lse_, p->lse_stride_ * num_sets, "the LSEs"));
  MLA_RETURN_IF_ERROR(allocate(&p->ws_, p->ws_stride_ * num_sets, "the workspaces"));

  // Values: like activations, magnitudes around 1; the FP8 scales put the
  // E4M3 codes (2^-3 .. 30) back in the same range.
  if (fp8_kv) {
    BENCH_CUDA(fill_fp8_rows(p->pool_.get(), kv_rows, seed * 4 + 1, stream));
    BENCH_CUDA(fill_uniform(p->kv_scales_.as<float>(), kv_rows, 1.0f / 64, 1.0f / 16, seed * 4 + 2, stream));
  } else {
    BENCH_CUDA(fill_bf16(p->pool_.get(), kv_rows * MLA_DIM_QK, 1.0f, seed * 4 + 1, stream));
  }
  for (int32_t s = 0; s < num_sets; ++s) {
    const uint64_t set_seed = seed * 1000003 + uint64_t(s) * 8;
    if (fp8_q) {
      BENCH_CUDA(fill_fp8_rows(at<char>(p->q_, p->q_stride_, s), q_rows, set_seed + 3, stream));
      BENCH_CUDA(fill_uniform(at<float>(p->q_scales_, p->qs_stride_, s), d.total_q, 1.0f / 64, 1.0f / 16,
                              set_seed + 4, stream));
    } else {
      BENCH_CUDA(fill_bf16(at<char>(p->q_, p->q_stride_, s), q_rows * MLA_DIM_QK, 1.0f, set_seed + 3, stream));
    }
    const SetMetadata& m = p->meta_[size_t(s)];
    BENCH_CUDA(cudaMemcpyAsync(at<char>(p->page_table_, p->pt_stride_, s), m.page_table.data(),
                               m.page_table.size() * 4, cudaMemcpyHostToDevice, stream));
    BENCH_CUDA(cudaMemcpyAsync(at<char>(p->q_offsets_, p->qo_stride_, s), m.q_offsets.data(), m.q_offsets.size() * 4,
                               cudaMemcpyHostToDevice, stream));
    BENCH_CUDA(cudaMemcpyAsync(at<char>(p->kv_lens_, p->kl_stride_, s), m.kv_lens.data(), m.kv_lens.size() * 4,
                               cudaMemcpyHostToDevice, stream));
  }
  // 0xFF bytes: BF16 NaN and float NaN.
  BENCH_CUDA(cudaMemsetAsync(p->out_.get(), 0xFF, size_t(p->out_.bytes()), stream));
  BENCH_CUDA(cudaMemsetAsync(p->lse_.get(), 0xFF, size_t(p->lse_.bytes()), stream));
  BENCH_CUDA(cudaMemsetAsync(p->ws_.get(), 0, size_t(p->ws_.bytes()), stream));
  // The host metadata vectors must outlive the copies.
  BENCH_CUDA(cudaStreamSynchronize(stream));
  *out = std::move(p);
  return Status::Ok();
}

ProblemData DeviceSets::data(int32_t s) const {
  ProblemData d;
  d.q = at<char>(q_, q_stride_, s);
  d.q_scales = q_scales_.get() ? at<float>(q_scales_, qs_stride_, s) : nullptr;
  d.kv_pool = pool_.get();
  d.kv_scales = kv_scales_.as<float>();
  d.page_table = at<int32_t>(page_table_, pt_stride_, s);
  d.q_offsets = at<int32_t>(q_offsets_, qo_stride_, s);
  d.kv_lens = at<int32_t>(kv_lens_, kl_stride_, s);
  return d;
}

uint16_t* DeviceSets::out(int32_t s) const { return at<uint16_t>(out_, out_stride_, s); }
float* DeviceSets::lse(int32_t s) const { return at<float>(lse_, lse_stride_, s); }
void* DeviceSets::workspace(int32_t s) const { return at<char>(ws_, ws_stride_, s); }

int64_t DeviceSets::allocated_bytes() const {
  int64_t n = 0;
  for (const DeviceBuffer* b : {&pool_, &kv_scales_, &q_, &q_scales_, &page_table_, &q_offsets_, &kv_lens_, &out_,
                                &lse_, &ws_})
    n += b->bytes();
  return n;
}

}  // namespace mla::tools::bench
