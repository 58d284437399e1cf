// The C API (mla/mla_c.h) over the C++ API: converts the structs, catches
// every exception, and keeps the last error message per thread.
#include <exception>
#include <new>
#include <string>

#include "mla/cuda.h"
#include "mla/mla_c.h"

struct mla_cuda_plan {
  mla::cuda::DecodePlan plan;
};

namespace {

thread_local std::string g_last_error;

mla_status record(const mla::Status& s) {
  g_last_error = s.ok() ? std::string() : s.to_string();
  return static_cast<mla_status>(static_cast<int>(s.code()));
}

// Runs f (returning mla::Status) with exceptions turned into MLA_ERROR_INTERNAL.
template <class F>
mla_status guarded(F&& f) {
  try {
    return record(f());
  } catch (const std::bad_alloc&) {
    return record(mla::Status(mla::StatusCode::out_of_memory, "host allocation failed"));
  } catch (const std::exception& e) {
    return record(mla::Status(mla::StatusCode::internal, e.what()));
  } catch (...) {
    return record(mla::Status(mla::StatusCode::internal, "unknown exception"));
  }
}

mla::ProblemDesc to_desc(const mla_problem& p) {
  mla::ProblemDesc d;
  d.batch = p.batch;
  d.num_heads = p.num_heads;
  d.total_q = p.total_q;
  d.q_format = static_cast<mla::RowFormat>(p.q_format);
  d.kv_format = static_cast<mla::RowFormat>(p.kv_format);
  d.mask = static_cast<mla::MaskKind>(p.mask);
  d.window = p.window;
  d.chunk = p.chunk;
  d.softmax_scale = p.softmax_scale;
  d.page_size = p.page_size;
  d.num_pages = p.num_pages;
  d.max_pages = p.max_pages;
  d.num_splits = p.num_splits;
  d.batch_invariant = p.batch_invariant != 0;
  return d;
}

mla::ProblemData to_data(const mla_inputs& in) {
  mla::ProblemData d;
  d.q = in.q;
  d.q_scales = in.q_scales;
  d.kv_pool = in.kv_pool;
  d.kv_scales = in.kv_scales;
  d.page_table = in.page_table;
  d.q_offsets = in.q_offsets;
  d.kv_lens = in.kv_lens;
  return d;
}

mla::Status null_arg(const char* name) { return mla::invalid_argument(std::string(name) + " = null"); }

}  // namespace

extern "C" {

const char* mla_last_error(void) { return g_last_error.c_str(); }

const char* mla_status_name(mla_status s) { return mla::to_string(static_cast<mla::StatusCode>(s)); }

mla_status mla_cuda_available(void) {
  return guarded([] {
    const std::string why = mla::cuda::unavailable_reason();
    return why.empty() ? mla::Status::Ok() : mla::Status(mla::StatusCode::not_available, why);
  });
}

mla_status mla_cuda_plan_create(const mla_problem* problem, int device, int32_t num_parts, mla_cuda_plan** plan) {
  return guarded([&] {
    if (!problem) return null_arg("problem");
    if (!plan) return null_arg("plan");
    *plan = nullptr;
    mla::cuda::PlanOptions opt;
    opt.device = device;
    opt.num_parts = num_parts;
    mla_cuda_plan tmp;
    MLA_RETURN_IF_ERROR(mla::cuda::make_plan(to_desc(*problem), &tmp.plan, opt));
    *plan = new mla_cuda_plan(tmp);
    return mla::Status::Ok();
  });
}

void mla_cuda_plan_destroy(mla_cuda_plan* plan) { delete plan; }

size_t mla_cuda_plan_workspace_size(const mla_cuda_plan* plan) {
  return plan ? size_t(plan->plan.workspace_bytes) : 0;
}

mla_status mla_cuda_run_planner(const mla_cuda_plan* plan, const mla_inputs* inputs, void* workspace,
                                size_t workspace_bytes, mla_cuda_stream stream) {
  return guarded([&] {
    if (!plan) return null_arg("plan");
    if (!inputs) return null_arg("inputs");
    return mla::cuda::run_planner(plan->plan, to_data(*inputs), workspace, int64_t(workspace_bytes), stream);
  });
}

mla_status mla_cuda_decode(const mla_cuda_plan* plan, const mla_inputs* inputs, void* workspace,
                           size_t workspace_bytes, uint16_t* out, float* lse, mla_cuda_stream stream) {
  return guarded([&] {
    if (!plan) return null_arg("plan");
    if (!inputs) return null_arg("inputs");
    return mla::cuda::decode(plan->plan, to_data(*inputs), workspace, int64_t(workspace_bytes), out, lse, stream);
  });
}

const uint32_t* mla_cuda_status_word(const mla_cuda_plan* plan, const void* workspace) {
  return plan ? mla::cuda::device_status_word(plan->plan, workspace) : nullptr;
}

mla_status mla_cuda_read_status(const mla_cuda_plan* plan, const void* workspace, uint32_t* status_word,
                                uint32_t* request_status, mla_cuda_stream stream) {
  return guarded([&] {
    if (!plan) return null_arg("plan");
    return mla::cuda::read_status(plan->plan, workspace, status_word, request_status, stream);
  });
}

mla_status mla_cuda_decode_host(const mla_problem* problem, const mla_inputs* host, uint16_t* out, float* lse,
                                uint32_t* status_word, double* kernel_ms) {
  return guarded([&] {
    if (!problem) return null_arg("problem");
    if (!host) return null_arg("host");
    return mla::cuda::decode_host(to_desc(*problem), to_data(*host), out, lse, status_word, kernel_ms);
  });
}

}  // extern "C"
