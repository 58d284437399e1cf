// The CUDA test harness (cuda_harness.h).
#include "cuda_harness.h"

#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>

#include "device_buffer.h"
#include "portable/decode_kernel.h"

namespace mla::test::gpu {
namespace {

using mla::cuda_impl::DeviceBuffer;

#define CUDA_REQUIRE(call)                                                       \
  do {                                                                           \
    const cudaError_t e_ = (call);                                               \
    REQUIRE_MESSAGE(e_ == cudaSuccess, #call << ": " << cudaGetErrorString(e_)); \
  } while (0)

template <class T>
int64_t bytes_of(const std::vector<T>& v) {
  return int64_t(v.size() * sizeof(T));
}

}  // namespace

struct DeviceProblem::Buffers {
  DeviceBuffer q, qs, kv, kvs, table, offsets, lens, out, lse, ws;
};

DeviceProblem::DeviceProblem(const HostProblem& p, const mla::cuda::PlanOptions& opt) : p_(p), b_(new Buffers) {
  STATUS_REQUIRE(mla::cuda::make_plan(p.desc, &plan_, opt));
  STATUS_REQUIRE(b_->q.upload(p.q.data(), bytes_of(p.q)));
  STATUS_REQUIRE(b_->qs.upload(p.q_scales.data(), bytes_of(p.q_scales)));
  STATUS_REQUIRE(b_->kv.upload(p.kv_pool.data(), bytes_of(p.kv_pool)));
  STATUS_REQUIRE(b_->kvs.upload(p.kv_scales.data(), bytes_of(p.kv_scales)));
  STATUS_REQUIRE(b_->table.upload(p.page_table.data(), bytes_of(p.page_table)));
  STATUS_REQUIRE(b_->offsets.upload(p.q_offsets.data(), bytes_of(p.q_offsets)));
  STATUS_REQUIRE(b_->lens.upload(p.kv_lens.data(), bytes_of(p.kv_lens)));
  STATUS_REQUIRE(b_->out.allocate(out_count(p.desc) * 2));
  STATUS_REQUIRE(b_->lse.allocate(lse_count(p.desc) * 4));
  STATUS_REQUIRE(b_->ws.allocate(plan_.workspace_bytes));
  CUDA_REQUIRE(cudaMemset(b_->ws.get(), 0xA5, size_t(plan_.workspace_bytes)));
  poison_outputs();
  data_.q = b_->q.get();
  data_.q_scales = p.q_scales.empty() ? nullptr : b_->qs.as<float>();
  data_.kv_pool = b_->kv.get();
  data_.kv_scales = p.kv_scales.empty() ? nullptr : b_->kvs.as<float>();
  data_.page_table = b_->table.as<int32_t>();
  data_.q_offsets = b_->offsets.as<int32_t>();
  data_.kv_lens = b_->lens.as<int32_t>();
  CUDA_REQUIRE(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  // The uploads went through the legacy stream, which a non-blocking stream
  // does not wait for.
  CUDA_REQUIRE(cudaDeviceSynchronize());
}

DeviceProblem::~DeviceProblem() {
  if (stream_) (void)cudaStreamDestroy(stream_);
  delete b_;
}

void* DeviceProblem::workspace() const { return b_->ws.get(); }
uint16_t* DeviceProblem::out() const { return b_->out.as<uint16_t>(); }
float* DeviceProblem::lse() const { return b_->lse.as<float>(); }

void DeviceProblem::poison_outputs() {
  std::vector<uint16_t> out(out_count(p_.desc));
  std::vector<float> lse(lse_count(p_.desc));
  poison(out, lse);
  if (!out.empty()) {
    CUDA_REQUIRE(cudaMemcpy(b_->out.get(), out.data(), out.size() * 2, cudaMemcpyHostToDevice));
    CUDA_REQUIRE(cudaMemcpy(b_->lse.get(), lse.data(), lse.size() * 4, cudaMemcpyHostToDevice));
  }
  CUDA_REQUIRE(cudaDeviceSynchronize());  // see the constructor
}

void DeviceProblem::enqueue() {
  STATUS_REQUIRE(mla::cuda::plan_and_decode(plan_, data_, b_->ws.get(), b_->ws.bytes(), out(), lse(), stream_));
}

Result DeviceProblem::download() {
  Result r;
  const cudaError_t sync = cudaStreamSynchronize(stream_);
  REQUIRE_MESSAGE(sync == cudaSuccess, "decode failed on the device: " << cudaGetErrorString(sync));
  r.out.resize(out_count(p_.desc));
  r.lse.resize(lse_count(p_.desc));
  r.request_status.assign(p_.desc.batch, 0xDEADBEEFu);
  STATUS_REQUIRE(mla::cuda::read_status(plan_, b_->ws.get(), &r.status, r.request_status.data(), stream_));
  if (!r.out.empty()) {
    CUDA_REQUIRE(cudaMemcpy(r.out.data(), b_->out.get(), r.out.size() * 2, cudaMemcpyDeviceToHost));
    CUDA_REQUIRE(cudaMemcpy(r.lse.data(), b_->lse.get(), r.lse.size() * 4, cudaMemcpyDeviceToHost));
  }
  return r;
}

void DeviceProblem::set_kv_lens(const std::vector<int32_t>& v) {
  REQUIRE(bytes_of(v) <= b_->lens.bytes());
  CUDA_REQUIRE(cudaMemcpyAsync(b_->lens.get(), v.data(), size_t(bytes_of(v)), cudaMemcpyHostToDevice, stream_));
  CUDA_REQUIRE(cudaStreamSynchronize(stream_));
}
void DeviceProblem::set_q_offsets(const std::vector<int32_t>& v) {
  REQUIRE(bytes_of(v) <= b_->offsets.bytes());
  CUDA_REQUIRE(cudaMemcpyAsync(b_->offsets.get(), v.data(), size_t(bytes_of(v)), cudaMemcpyHostToDevice, stream_));
  CUDA_REQUIRE(cudaStreamSynchronize(stream_));
}
void DeviceProblem::set_page_table(const std::vector<int32_t>& v) {
  REQUIRE(bytes_of(v) <= b_->table.bytes());
  CUDA_REQUIRE(cudaMemcpyAsync(b_->table.get(), v.data(), size_t(bytes_of(v)), cudaMemcpyHostToDevice, stream_));
  CUDA_REQUIRE(cudaStreamSynchronize(stream_));
}

Result run(const HostProblem& p, const mla::cuda::PlanOptions& opt) {
  DeviceProblem dp(p, opt);
  dp.enqueue();
  return dp.download();
}

std::vector<mla::cuda::Kernel> kernels_under_test() {
  using mla::cuda::Kernel;
  // MLA_TEST_KERNELS=portable_big,portable_small (names of mla::cuda::to_string)
  // restricts the suite, e.g. to run one configuration under a sanitizer.
  if (const char* only = std::getenv("MLA_TEST_KERNELS"); only && *only) {
    std::vector<Kernel> ks;
    const std::string list = std::string(",") + only + ",";
    for (Kernel k : {Kernel::automatic, Kernel::portable_big, Kernel::portable_small, Kernel::sm90})
      if (list.find(std::string(",") + mla::cuda::to_string(k) + ",") != std::string::npos) ks.push_back(k);
    REQUIRE_MESSAGE(!ks.empty(), "MLA_TEST_KERNELS = " << std::string(only) << " names no kernel (auto, portable_big, portable_small, sm90)");
    return ks;
  }
  std::vector<Kernel> ks = {Kernel::automatic};
  int dev = 0, smem = 0;
  if (cudaGetDevice(&dev) == cudaSuccess &&
      cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) == cudaSuccess) {
    using mla::cuda_impl::PortableSize;
    if (smem >= mla::cuda_impl::portable_kernel_smem(MLA_FORMAT_BF16, PortableSize::big)) ks.push_back(Kernel::portable_big);
    ks.push_back(Kernel::portable_small);
  }
  return ks;
}

std::string kernel_label(mla::cuda::Kernel k) { return std::string("kernel=") + mla::cuda::to_string(k); }

void for_each_kernel(const std::function<void(const mla::cuda::PlanOptions&)>& f, mla::cuda::PlanOptions base) {
  for (mla::cuda::Kernel k : kernels_under_test()) {
    base.kernel = k;
    INFO(kernel_label(k));
    f(base);
  }
}

HostProblem extract_request(const HostProblem& p, int32_t b) {
  HostProblem s;
  s.desc = p.desc;
  const int32_t q0 = p.q_offsets[b], q1 = p.q_offsets[b + 1];
  const int64_t qrb = row_bytes(p.desc.q_format) * p.desc.num_heads;
  s.desc.batch = 1;
  s.desc.total_q = q1 - q0;
  s.q.assign(p.q.begin() + q0 * qrb, p.q.begin() + q1 * qrb);
  if (!p.q_scales.empty()) s.q_scales.assign(p.q_scales.begin() + q0, p.q_scales.begin() + q1);
  s.kv_pool = p.kv_pool;
  s.kv_scales = p.kv_scales;
  s.page_table.assign(p.page_table.begin() + int64_t(b) * p.desc.max_pages,
                      p.page_table.begin() + int64_t(b + 1) * p.desc.max_pages);
  s.q_offsets = {0, q1 - q0};
  s.kv_lens = {p.kv_lens[b]};
  return s;
}

void slice_request(const HostProblem& p, int32_t b, const Result& r, std::vector<uint16_t>* out,
                   std::vector<float>* lse) {
  const int64_t H = p.desc.num_heads;
  const int64_t r0 = p.q_offsets[b] * H, r1 = p.q_offsets[b + 1] * H;
  out->assign(r.out.begin() + r0 * MLA_DIM_V, r.out.begin() + r1 * MLA_DIM_V);
  lse->assign(r.lse.begin() + r0, r.lse.begin() + r1);
}

bool bitwise_equal(const std::vector<uint16_t>& a_out, const std::vector<float>& a_lse,
                   const std::vector<uint16_t>& b_out, const std::vector<float>& b_lse) {
  return a_out.size() == b_out.size() && a_lse.size() == b_lse.size() &&
         std::memcmp(a_out.data(), b_out.data(), a_out.size() * 2) == 0 &&
         std::memcmp(a_lse.data(), b_lse.data(), a_lse.size() * 4) == 0;
}

CompareResult check_against_reference(const HostProblem& p, const Reference& ref, const Result& got,
                                      const std::string& what) {
  const CompareResult c = compare(p, got.out.data(), got.lse.data(), ref);
  INFO(what << ": " << p.describe());
  CHECK_MESSAGE(c.ok, c.first_failure << " (unwritten " << c.unwritten << ", bad " << c.bad << ", worst err/tol "
                                      << c.max_err_over_tol << ")");
  CHECK(got.status == 0u);
  return c;
}

}  // namespace mla::test::gpu
