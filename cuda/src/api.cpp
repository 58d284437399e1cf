// The CUDA backend's C++ API (mla/cuda.h): plans, the planner and decode
// launches, the status word.
#include <cuda_runtime.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "combine.h"
#include "config.h"
#include "cuda_status.h"
#include "decode_params.h"
#include "device_info.h"
#include "dispatch.h"
#include "mla/cuda.h"
#include "mla/validate.h"
#include "planner.h"
#include "portable/decode_kernel.h"

// Measurement builds only (docs/perf_notes.md, "Lead, sixth session"): what
// the fixed launches cost in a graph. MLA_DEV_SKIP bit 0: the page check and
// planner are not launched; bit 1: the combine is not launched (with bit 2 of
// the sm90 kernels, an empty decode; bit 3: the BF16 sm90 decode without its
// math, bit 4: without its loads (sm90_decode_bf16.cu; add
// -DMLA_SM90_NONFINITE_CHECK=0, or the garbage tiles take the non-finite
// path); bit 5: sm90_epilogue.cuh stores nothing (the BF16 kernel's output,
// LSE and fp32 partial rows; of the fp8 register-V kernels only the LSE):
// what a split item's stores cost; results are garbage).
// 0 in every real build.
#ifndef MLA_DEV_SKIP
#define MLA_DEV_SKIP 0
#endif

namespace mla::cuda {
namespace {

using cuda_impl::DecodeParams;
using cuda_impl::RequestInfo;
using cuda_impl::WorkItem;

constexpr int64_t kAlign = 256;
int64_t align_up(int64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

// MLA_CUDA_KERNEL overrides Kernel::automatic.
Status kernel_from_env(Kernel* k) {
  const char* e = std::getenv("MLA_CUDA_KERNEL");
  if (!e || !*e || std::strcmp(e, "auto") == 0) return Status::Ok();
  for (Kernel c : {Kernel::portable, Kernel::portable_big, Kernel::portable_small, Kernel::sm90})
    if (std::strcmp(e, to_string(c)) == 0) {
      *k = c;
      return Status::Ok();
    }
  return invalid_argument(std::string("MLA_CUDA_KERNEL = ") + e +
                          " is not one of auto, portable, portable_big, portable_small, sm90");
}

// MLA_PLANNER selects the planner's emission and the combine kernel:
// unset / "default": the multi-CTA page check before the planner (which it
// follows by programmatic dependent launch), parallel item emission, the
// unit-table combine with programmatic dependent launch; "legacy": the page
// check inside the planner's one CTA, the serial emission and the
// one-warp-per-row combine of 2026-11-27 (kept for one release to compare
// both in one GPU run). The schedule itself is the same; either combine
// kernel reads what either planner writes, so the variable may differ
// between run_planner and decode without harm. "cta": the default path, but
// batches of <= 32 go to the one-CTA planner kernel instead of the one-warp
// one (planner.cu; an A/B switch, the same schedule).
Status planner_mode(bool* legacy, bool* cta) {
  *legacy = false;
  *cta = false;
  const char* e = std::getenv("MLA_PLANNER");
  if (!e || !*e || std::strcmp(e, "default") == 0) return Status::Ok();
  if (std::strcmp(e, "legacy") == 0) {
    *legacy = true;
    return Status::Ok();
  }
  if (std::strcmp(e, "cta") == 0) {
    *cta = true;
    return Status::Ok();
  }
  return invalid_argument(std::string("MLA_PLANNER = ") + e + " is not one of default, cta, legacy");
}

int64_t combine_units_offset(const DecodePlan& plan) {
  return cuda_impl::combine_units_offset(plan.offsets.combine_list, plan.desc.batch);
}

cuda_impl::SplitMode split_mode(const ProblemDesc& d) {
  if (d.batch_invariant) return cuda_impl::SplitMode::invariant;
  return d.num_splits > 0 ? cuda_impl::SplitMode::fixed : cuda_impl::SplitMode::automatic;
}

template <class T>
T* at(void* ws, int64_t off) {
  return reinterpret_cast<T*>(static_cast<char*>(ws) + off);
}

Status check_workspace(const DecodePlan& plan, const void* ws, int64_t bytes) {
  if (plan.workspace_bytes <= 0) return invalid_argument("the plan was not made by make_plan");
  if (!ws) return invalid_argument("workspace = null (" + std::to_string(plan.workspace_bytes) + " bytes are needed)");
  if (reinterpret_cast<uintptr_t>(ws) % kAlign != 0) return invalid_argument("workspace is not 256-byte aligned");
  if (bytes < plan.workspace_bytes)
    return invalid_argument("workspace_bytes = " + std::to_string(bytes) + " is less than the plan's " +
                            std::to_string(plan.workspace_bytes));
  int dev = -1;
  MLA_CUDA_RETURN_IF_ERROR(cudaGetDevice(&dev));
  if (dev != plan.device)
    return invalid_argument("the plan is for device " + std::to_string(plan.device) + " but device " +
                            std::to_string(dev) + " is current");
  return Status::Ok();
}

Status check_alignment(const char* name, const void* p, uintptr_t align) {
  if (p && reinterpret_cast<uintptr_t>(p) % align != 0)
    return invalid_argument(std::string(name) + " is not " + std::to_string(align) + "-byte aligned");
  return Status::Ok();
}

}  // namespace

const char* to_string(Kernel k) {
  switch (k) {
    case Kernel::automatic: return "auto";
    case Kernel::portable: return "portable";
    case Kernel::portable_big: return "portable_big";
    case Kernel::portable_small: return "portable_small";
    case Kernel::sm90: return "sm90";
  }
  return "?";
}

std::string unavailable_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("no usable CUDA driver or device: ") + cudaGetErrorString(e);
  }
  if (n == 0) return "no CUDA device";
  const cuda_impl::DeviceInfo* info = nullptr;
  const Status st = cuda_impl::device_info(-1, &info);
  if (!st.ok()) return st.to_string();
  return info->unusable;
}

Status make_plan(const ProblemDesc& d, DecodePlan* plan, const PlanOptions& opt) {
  MLA_RETURN_IF_ERROR(validate_desc(d));
  if (!plan) return invalid_argument("plan = null");
  const cuda_impl::DeviceInfo* dev = nullptr;
  MLA_RETURN_IF_ERROR(cuda_impl::device_info(opt.device, &dev));
  if (!dev->unusable.empty()) return Status(StatusCode::not_available, dev->unusable);
  if (opt.max_q_len < 0 || opt.max_q_len > MLA_MAX_Q_LEN)
    return invalid_argument("max_q_len = " + std::to_string(opt.max_q_len) + " is out of range [0, " +
                            std::to_string(MLA_MAX_Q_LEN) + "] (0: " + std::to_string(MLA_MAX_Q_LEN) + ")");
  if (opt.num_parts < 0 || opt.num_parts > cuda_impl::kMaxParts)
    return invalid_argument("num_parts = " + std::to_string(opt.num_parts) + " is out of range [0, " +
                            std::to_string(cuda_impl::kMaxParts) + "]");
  DecodePlan p;
  p.desc = d;
  p.device = dev->device;
  p.sm_count = dev->sm_count;
  Kernel k = opt.kernel;
  if (k == Kernel::automatic) MLA_RETURN_IF_ERROR(kernel_from_env(&k));
  if (k == Kernel::portable)  // the largest configuration that fits
    k = dev->smem_optin >= cuda_impl::portable_kernel_smem(int(d.kv_format), cuda_impl::PortableSize::big)
            ? Kernel::portable_big
            : Kernel::portable_small;
  p.kernel = k;

  // Grid: M tiles of the longest possible request (the caller's bound, else
  // the contract's); parts so that the average request's tiles x parts fill
  // the SMs.
  p.max_q_len = opt.max_q_len > 0 ? opt.max_q_len : MLA_MAX_Q_LEN;
  const int64_t max_q = d.total_q < p.max_q_len ? d.total_q : p.max_q_len;
  p.max_m_tiles = int32_t((max_q * d.num_heads + cuda_impl::kBlockM - 1) / cuda_impl::kBlockM);
  if (opt.num_parts > 0) {
    p.num_parts = opt.num_parts;
  } else {
    const int64_t avg_rows = d.batch > 0 ? (int64_t(d.total_q) * d.num_heads + d.batch - 1) / d.batch : 1;
    int64_t avg_tiles = (avg_rows + cuda_impl::kBlockM - 1) / cuda_impl::kBlockM;
    if (avg_tiles < 1) avg_tiles = 1;
    int64_t parts = int64_t(dev->sm_count) * cuda_impl::kPartsPerSm / avg_tiles;
    if (parts < 1) parts = 1;
    if (parts > cuda_impl::kMaxParts) parts = cuda_impl::kMaxParts;
    p.num_parts = int32_t(parts);
  }
  const cuda_impl::ScheduleBounds b =
      cuda_impl::schedule_bounds(split_mode(d), d.num_splits, d.batch, d.num_heads, d.total_q,
                                 int64_t(d.max_pages) * d.page_size, p.num_parts);
  if (b.max_items > INT32_MAX || b.partial_rows > INT32_MAX)
    return Status(StatusCode::unsupported, "the split-K schedule would need " + std::to_string(b.partial_rows) +
                                               " workspace rows and " + std::to_string(b.max_items) +
                                               " work items (limit 2^31 - 1 each); use fewer splits");
  // Combine units (combine.h) are int32 (planner.h, combine_units_bound). With
  // partial_rows <= 2^31 - 1 (checked above), q_rows <= 2^31 - 1 and batch <= 2^20
  // (validate_desc) the bound stays below 1.3e9: the check only guards the formula.
  const int64_t max_units =
      cuda_impl::combine_units_bound(int64_t(d.total_q) * d.num_heads, d.batch, b.partial_rows);
  if (max_units > INT32_MAX)
    return Status(StatusCode::unsupported, "the combine would need " + std::to_string(max_units) +
                                               " work units (limit 2^31 - 1)");
  p.max_items = b.max_items;
  p.partial_rows = b.partial_rows;

  DecodePlan::Offsets& o = p.offsets;
  int64_t off = 0;
  o.status = off;
  o.combine_count = off + 4;
  off = kAlign;
  o.requests = off;
  off = align_up(off + int64_t(d.batch) * int64_t(sizeof(RequestInfo)));
  o.items = off;
  off = align_up(off + p.max_items * int64_t(sizeof(WorkItem)));
  o.part_begin = off;
  off = align_up(off + (int64_t(p.num_parts) + 1) * 4);
  o.combine_list = off;
  off = align_up(off + int64_t(d.batch) * 4);
  off = align_up(off + (int64_t(d.batch) + 1) * 4);  // combine units (combine_units_offset)
  o.cost_begin = off;
  off = align_up(off + int64_t(d.batch) * 8);
  off = align_up(off + int64_t(d.batch) * cuda_impl::check_chunks_of(d.max_pages) * 4);  // page flags (page_flags_offset)
  o.partial_lse = off;
  off = align_up(off + p.partial_rows * 4);
  o.partial_out = off;
  off = align_up(off + p.partial_rows * MLA_DIM_V * 4);
  p.workspace_bytes = off;
  *plan = p;
  return Status::Ok();
}

Status run_planner(const DecodePlan& plan, const ProblemData& data, void* ws, int64_t ws_bytes, Stream stream) {
  MLA_RETURN_IF_ERROR(check_workspace(plan, ws, ws_bytes));
  const ProblemDesc& d = plan.desc;
  // An empty batch still runs the planner: it writes the status word (0) and empty parts.
  if (d.batch > 0) {
    if (!data.q_offsets) return invalid_argument("q_offsets = null (batch = " + std::to_string(d.batch) + ")");
    if (!data.kv_lens) return invalid_argument("kv_lens = null (batch = " + std::to_string(d.batch) + ")");
    if (d.max_pages > 0 && !data.page_table)
      return invalid_argument("page_table = null (max_pages = " + std::to_string(d.max_pages) + ")");
  }
  cuda_impl::PlannerParams p = cuda_impl::planner_problem(d, plan.num_parts);
  p.max_q_len = plan.max_q_len;
  bool legacy = false, cta = false;
  MLA_RETURN_IF_ERROR(planner_mode(&legacy, &cta));
  p.parallel = legacy ? 0 : (cta ? 2 : 1);
  p.q_offsets = data.q_offsets;
  p.kv_lens = data.kv_lens;
  p.page_table = data.page_table;
  const DecodePlan::Offsets& o = plan.offsets;
  p.requests = at<RequestInfo>(ws, o.requests);
  p.items = at<WorkItem>(ws, o.items);
  p.part_begin = at<int32_t>(ws, o.part_begin);
  p.combine_list = at<int32_t>(ws, o.combine_list);
  p.combine_count = at<int32_t>(ws, o.combine_count);
  p.combine_units = at<int32_t>(ws, combine_units_offset(plan));
  p.cost_begin = at<int64_t>(ws, o.cost_begin);
  p.status = at<uint32_t>(ws, o.status);
  p.check_chunks = cuda_impl::check_chunks_of(d.max_pages);
  p.page_flags = legacy ? nullptr : at<uint32_t>(ws, cuda_impl::page_flags_offset(o.cost_begin, d.batch));
  const cuda_impl::DeviceInfo* dev = nullptr;
  MLA_RETURN_IF_ERROR(cuda_impl::device_info(plan.device, &dev));
  if (MLA_DEV_SKIP & 1) return Status::Ok();
  return cuda_impl::cuda_status(cuda_impl::launch_planner(p, dev->cc_major >= 9, stream), "planner launch");
}

Status decode(const DecodePlan& plan, const ProblemData& data, void* ws, int64_t ws_bytes, uint16_t* out, float* lse,
              Stream stream) {
  const ProblemDesc& d = plan.desc;
  MLA_RETURN_IF_ERROR(validate_desc(d));
  MLA_RETURN_IF_ERROR(validate_buffers(d, data, out, lse));
  MLA_RETURN_IF_ERROR(check_workspace(plan, ws, ws_bytes));
  MLA_RETURN_IF_ERROR(check_alignment("q", data.q, 16));
  MLA_RETURN_IF_ERROR(check_alignment("kv_pool", data.kv_pool, 16));
  MLA_RETURN_IF_ERROR(check_alignment("out", out, 16));
  MLA_RETURN_IF_ERROR(check_alignment("lse", lse, 4));
  bool legacy = false, cta = false;
  MLA_RETURN_IF_ERROR(planner_mode(&legacy, &cta));
  if (d.batch == 0 || d.total_q == 0) return Status::Ok();  // no row to write

  const cuda_impl::DeviceInfo* dev = nullptr;
  MLA_RETURN_IF_ERROR(cuda_impl::device_info(plan.device, &dev));
  DecodeParams p;
  std::memset(&p, 0, sizeof(p));
  p.batch = d.batch;
  p.num_heads = d.num_heads;
  p.total_q = d.total_q;
  p.q_format = int32_t(d.q_format);
  p.kv_format = int32_t(d.kv_format);
  p.mask = int32_t(d.mask);
  p.window = d.window;
  p.chunk = d.chunk;
  p.softmax_scale = d.softmax_scale;
  p.scale_log2 = d.softmax_scale * 1.4426950408889634f;
  p.page_size = d.page_size;
  p.page_shift = 0;
  while ((1 << p.page_shift) < d.page_size) ++p.page_shift;
  p.num_pages = d.num_pages;
  p.max_pages = d.max_pages;
  p.q = data.q;
  p.q_scales = data.q_scales;
  p.kv_pool = data.kv_pool;
  p.kv_scales = data.kv_scales;
  p.page_table = data.page_table;
  p.q_offsets = data.q_offsets;
  p.kv_lens = data.kv_lens;
  p.out = out;
  p.lse = lse;
  const DecodePlan::Offsets& o = plan.offsets;
  p.requests = at<RequestInfo>(ws, o.requests);
  p.items = at<WorkItem>(ws, o.items);
  p.part_begin = at<int32_t>(ws, o.part_begin);
  p.num_parts = plan.num_parts;
  p.max_m_tiles = plan.max_m_tiles;
  p.partial_out = at<float>(ws, o.partial_out);
  p.partial_lse = at<float>(ws, o.partial_lse);
  p.status = at<uint32_t>(ws, o.status);
  p.plan_max_q_len = plan.max_q_len;
  MLA_RETURN_IF_ERROR(cuda_impl::launch_decode(p, plan.kernel, *dev, stream, nullptr));

  cuda_impl::CombineParams c;
  c.requests = p.requests;
  c.list = at<int32_t>(ws, o.combine_list);
  c.count = at<int32_t>(ws, o.combine_count);
  c.units = at<int32_t>(ws, combine_units_offset(plan));
  c.num_heads = d.num_heads;
  const int64_t max_q = d.total_q < MLA_MAX_Q_LEN ? d.total_q : MLA_MAX_Q_LEN;
  c.chunks_per_request = int32_t((max_q * d.num_heads + cuda_impl::kCombineWarps - 1) / cuda_impl::kCombineWarps);
  c.partial_out = p.partial_out;
  c.partial_lse = p.partial_lse;
  c.out = out;
  c.lse = lse;
  if (MLA_DEV_SKIP & 2) return Status::Ok();
  if (legacy)
    return cuda_impl::cuda_status(cuda_impl::launch_combine_legacy(c, d.batch, dev->sm_count, stream),
                                  "combine launch");
  // Grid bound: every request split into wide units (the grid-stride loop takes any more).
  const int64_t max_units = int64_t(d.batch) * max_q * d.num_heads * cuda_impl::kCombineColParts;
  const bool pdl = dev->cc_major >= 9;
  return cuda_impl::cuda_status(cuda_impl::launch_combine(c, max_units, dev->sm_count, pdl, stream), "combine launch");
}

Status plan_and_decode(const DecodePlan& plan, const ProblemData& data, void* ws, int64_t ws_bytes, uint16_t* out,
                       float* lse, Stream stream) {
  MLA_RETURN_IF_ERROR(run_planner(plan, data, ws, ws_bytes, stream));
  return decode(plan, data, ws, ws_bytes, out, lse, stream);
}

const uint32_t* device_status_word(const DecodePlan& plan, const void* ws) {
  if (!ws) return nullptr;
  return reinterpret_cast<const uint32_t*>(static_cast<const char*>(ws) + plan.offsets.status);
}

Status read_status(const DecodePlan& plan, const void* ws, uint32_t* status_word, uint32_t* request_status,
                   Stream stream) {
  MLA_RETURN_IF_ERROR(check_workspace(plan, ws, plan.workspace_bytes));
  MLA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  const char* base = static_cast<const char*>(ws);
  if (status_word)
    MLA_CUDA_RETURN_IF_ERROR(cudaMemcpy(status_word, base + plan.offsets.status, 4, cudaMemcpyDeviceToHost));
  if (request_status && plan.desc.batch > 0) {
    std::vector<RequestInfo> info(plan.desc.batch);
    MLA_CUDA_RETURN_IF_ERROR(cudaMemcpy(info.data(), base + plan.offsets.requests,
                                        info.size() * sizeof(RequestInfo), cudaMemcpyDeviceToHost));
    for (size_t b = 0; b < info.size(); ++b) request_status[b] = info[b].status;
  }
  return Status::Ok();
}

}  // namespace mla::cuda
