// The backends behind one interface (tools/backend.h). CUDA and Vulkan are
// compiled in only when their dependency carries MLA_HAVE_CUDA /
// MLA_HAVE_VULKAN; otherwise they report that they were not built.
#include "backend.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "mla/numeric.h"
#include "mla/reference.h"
#ifdef MLA_HAVE_CUDA
#include "mla/cuda.h"
#endif
#ifdef MLA_HAVE_VULKAN
#include "mla/vulkan.h"
#endif

namespace mla::tools {

struct Runner::Impl {
#ifdef MLA_HAVE_VULKAN
  std::unique_ptr<mla::vulkan::Context> vk;  // created once: pipelines are reused across runs
#endif
  std::vector<uint16_t> bf16;  // BF16 output of a device backend, before widening
};

const char* to_string(Backend b) {
  switch (b) {
    case Backend::reference: return "reference";
    case Backend::cuda: return "cuda";
    case Backend::vulkan: return "vulkan";
  }
  return "?";
}

bool parse_backend(const std::string& s, Backend* out) {
  for (Backend b : {Backend::reference, Backend::cuda, Backend::vulkan})
    if (s == to_string(b)) return *out = b, true;
  return false;
}

std::string unavailable_reason(Backend b) {
  switch (b) {
    case Backend::reference: return "";
    case Backend::cuda:
#ifdef MLA_HAVE_CUDA
      return mla::cuda::unavailable_reason();
#else
      return "not built into this mla (configure with -Dcuda=enabled; needs nvcc)";
#endif
    case Backend::vulkan:
#ifdef MLA_HAVE_VULKAN
      return mla::vulkan::unavailable_reason();
#else
      return "not built into this mla (configure with -Dvulkan=enabled; needs libvulkan-dev and glslc)";
#endif
  }
  return "unknown backend";
}

Backend best_backend() {
  for (Backend b : {Backend::cuda, Backend::vulkan})
    if (unavailable_reason(b).empty()) return b;
  return Backend::reference;
}

Runner::Runner(Backend b) : backend_(b), impl_(new Impl) {}
Runner::~Runner() = default;

Status Runner::create(Backend b, std::unique_ptr<Runner>* out) {
  const std::string why = unavailable_reason(b);
  if (!why.empty()) return Status(StatusCode::not_available, std::string(to_string(b)) + " backend: " + why);
  std::unique_ptr<Runner> r(new Runner(b));
#ifdef MLA_HAVE_VULKAN
  if (b == Backend::vulkan) MLA_RETURN_IF_ERROR(mla::vulkan::Context::create(&r->impl_->vk));
#endif
  *out = std::move(r);
  return Status::Ok();
}

std::string Runner::device() const {
  switch (backend_) {
    case Backend::reference:
      return "CPU, float64 reference, " + std::to_string(std::max(1u, std::min(std::thread::hardware_concurrency(), 16u))) +
             " threads";
    case Backend::cuda: return "CUDA device";
    case Backend::vulkan:
#ifdef MLA_HAVE_VULKAN
    {
      // The decode and whether the driver's own bounds checks stay: both
      // change the time (vulkan/README.md), so results carry them.
      const mla::vulkan::DeviceInfo i = impl_->vk->device_info();
      return "Vulkan: " + i.name + "; " + i.decode + " decode, driver buffer checks " +
             (i.driver_buffer_checks ? "on" : "off");
    }
#else
      break;
#endif
  }
  return to_string(backend_);
}

namespace {

// Sizes and clears *r; bf16: the BF16 output of a device backend, before widening.
void start_run(const ProblemDesc& d, Backend b, RunOutput* r, std::vector<uint16_t>* bf16) {
  r->out.assign(size_t(std::max<int64_t>(0, out_count(d))), 0.f);
  r->lse.assign(size_t(std::max<int64_t>(0, lse_count(d))), 0.f);
  r->status_word = 0;
  r->kernel_ms = -1;
  if (b != Backend::reference) bf16->assign(r->out.size(), 0);
}

// The wall time since t0, and the BF16 output widened into r->out when the call succeeded.
void finish_run(std::chrono::steady_clock::time_point t0, bool widen, const Status& st,
                const std::vector<uint16_t>& bf16, RunOutput* r) {
  r->wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (st.ok() && widen)  // BF16 -> float is exact
    for (size_t i = 0; i < r->out.size(); ++i) r->out[i] = bf16_to_float(bf16[i]);
}

}  // namespace

Status Runner::run(const ProblemDesc& d, const ProblemData& host, RunOutput* r) {
  start_run(d, backend_, r, &impl_->bf16);
  const auto t0 = std::chrono::steady_clock::now();
  Status st;
  bool widen = false;
  switch (backend_) {
    case Backend::reference:
      st = reference_decode(d, host, r->out.data(), r->lse.data());
      break;
    case Backend::cuda:
#ifdef MLA_HAVE_CUDA
      st = mla::cuda::decode_host(d, host, impl_->bf16.data(), r->lse.data(), &r->status_word, &r->kernel_ms);
      widen = true;
#else
      st = Status(StatusCode::not_available, "cuda backend: " + unavailable_reason(backend_));
#endif
      break;
    case Backend::vulkan:
#ifdef MLA_HAVE_VULKAN
      st = impl_->vk->decode_host(d, host, impl_->bf16.data(), r->lse.data(), &r->status_word, &r->kernel_ms);
      widen = true;
#else
      st = Status(StatusCode::not_available, "vulkan backend: " + unavailable_reason(backend_));
#endif
      break;
  }
  finish_run(t0, widen, st, impl_->bf16, r);
  return st;
}

Status Runner::time_resident(const ProblemDesc& d, const ProblemData& host, double warmup_ms, int reps, RunOutput* r,
                             std::vector<double>* ms) {
  start_run(d, backend_, r, &impl_->bf16);
  if (backend_ != Backend::vulkan)
    return Status(StatusCode::not_available, std::string(to_string(backend_)) +
                                                 " backend: decodes are timed on device-resident inputs on vulkan only");
#ifdef MLA_HAVE_VULKAN
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = impl_->vk->time_decode_host(d, host, warmup_ms, reps, ms, impl_->bf16.data(), r->lse.data(),
                                                &r->status_word);
  finish_run(t0, true, st, impl_->bf16, r);
  return st;
#else
  (void)host, (void)warmup_ms, (void)reps, (void)ms;
  return Status(StatusCode::not_available, "vulkan backend: " + unavailable_reason(backend_));
#endif
}

Status Runner::copy_bandwidth(int64_t bytes, int reps, double* gb_per_s, int64_t* copied) {
  if (backend_ != Backend::vulkan)
    return Status(StatusCode::not_available, std::string(to_string(backend_)) +
                                                 " backend: the copy bandwidth is measured here on vulkan only");
#ifdef MLA_HAVE_VULKAN
  if (bytes < 16) return invalid_argument("copy_bandwidth: bytes = " + std::to_string(bytes) + " is below 16");
  VkDeviceSize done = 0;
  MLA_RETURN_IF_ERROR(impl_->vk->copy_bandwidth(VkDeviceSize(bytes), reps, gb_per_s, &done));
  *copied = int64_t(done);
  return Status::Ok();
#else
  (void)bytes, (void)reps, (void)gb_per_s, (void)copied;
  return Status(StatusCode::not_available, "vulkan backend: " + unavailable_reason(backend_));
#endif
}

}  // namespace mla::tools
