// One config on the CUDA backend (bench_cuda_run.h): size and fill the
// rotation sets, resolve the kernel, check the output, then time eager
// launches and graph replays.
#include "bench_cuda_run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>

#include "bench_cuda_check.h"
#include "bench_cuda_inputs.h"
#include "bench_graphs.h"
#include "bench_metrics.h"
#include "bench_problem.h"
#include "mla/numeric.h"

#if defined(MLA_DEV_TIMELINE)
#include <cstdlib>
#include <string>
#include <vector>

#include "../../cuda/src/dev_timeline.cuh"
// Measurement builds only (cuda/src/dev_timeline.cuh): each stamping unit's reader.
namespace mla::cuda_impl::timeline {
void read_planner_stamps(unsigned long long* host, bool clear);
void read_combine_stamps(unsigned long long* host, bool clear);
void read_decode_stamps(unsigned long long* host, bool clear);
}  // namespace mla::cuda_impl::timeline
#endif

namespace mla::tools::bench {
namespace {

#if defined(MLA_DEV_TIMELINE)
constexpr int kTimelineSlots = mla::cuda_impl::timeline::kSlots;
// Clears the stamps (before a mode's series) or writes the last run's
// nonzero ones as "slot ns" lines to $MLA_DEV_TIMELINE_OUT/<config>-<mode>.tl.
void timeline_step(const std::string& config, const char* mode, bool write) {
  namespace tl = mla::cuda_impl::timeline;
  if (!write) {
    tl::read_planner_stamps(nullptr, true);
    tl::read_combine_stamps(nullptr, true);
    tl::read_decode_stamps(nullptr, true);
    return;
  }
  std::vector<unsigned long long> a(kTimelineSlots), b(kTimelineSlots), c(kTimelineSlots);
  (void)cudaDeviceSynchronize();
  tl::read_planner_stamps(a.data(), false);
  tl::read_combine_stamps(b.data(), false);
  tl::read_decode_stamps(c.data(), false);
  const char* dir = std::getenv("MLA_DEV_TIMELINE_OUT");
  const std::string path = std::string(dir ? dir : ".") + "/" + config + "-" + mode + ".tl";
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "  timeline: cannot write %s\n", path.c_str());
    return;
  }
  for (int i = 0; i < kTimelineSlots; ++i) {
    const unsigned long long v = a[i] ? a[i] : b[i] ? b[i] : c[i];
    if (v) std::fprintf(f, "%d %llu\n", i, v);
  }
  std::fclose(f);
}
#endif

using mla::cuda::DecodePlan;
using mla::cuda::Kernel;

struct OwnedStream {
  cudaStream_t s = nullptr;
  ~OwnedStream() {
    if (s) (void)cudaStreamDestroy(s);
  }
};

// Runs set s once with the plan's kernel.
Status run_set(const DecodePlan& plan, const DeviceSets& sets, int32_t s, cudaStream_t stream) {
  return mla::cuda::plan_and_decode(plan, sets.data(s), sets.workspace(s), sets.workspace_bytes(), sets.out(s),
                                    sets.lse(s), stream);
}

// The kernel that actually runs. `automatic` is resolved the way the
// backend's dispatch resolves it (the Hopper kernel where it takes the call,
// else the portable one), so that the report can name the kernel: the API
// does not say which one an automatic plan launched.
// max_q_len: the config's q_len, the bound a serving engine that knows its
// step passes (PlanOptions::max_q_len: no CTA rows for tokens no request has).
Status resolve_plan(const ProblemDesc& d, Kernel requested, int32_t max_q_len, const DeviceSets& sets,
                    cudaStream_t stream, DecodePlan* plan) {
  auto attempt = [&](Kernel k) -> Status {
    mla::cuda::PlanOptions po;
    po.kernel = k;
    po.max_q_len = max_q_len;
    MLA_RETURN_IF_ERROR(mla::cuda::make_plan(d, plan, po));
    if (plan->workspace_bytes > sets.workspace_bytes())
      return Status(StatusCode::internal, "the " + std::string(mla::cuda::to_string(k)) + " plan needs a larger workspace");
    return run_set(*plan, sets, 0, stream);
  };
  if (requested != Kernel::automatic) return attempt(requested);
  const Status st = attempt(Kernel::sm90);
  if (st.ok() || st.code() != StatusCode::unsupported) return st;
  return attempt(Kernel::portable);
}

// Set 0's output after a run: status word, finite and written, and the
// cheapest request against the float64 reference. `bits` keeps the raw
// output so that the graph replays can be compared with it.
Status check_set0(const DecodePlan& plan, const DeviceSets& sets, double max_flops,
                  cudaStream_t stream, CheckResult* r, std::vector<uint16_t>* bits) {
  const ProblemDesc& d = sets.desc();
  uint32_t word = 0;
  MLA_RETURN_IF_ERROR(mla::cuda::read_status(plan, sets.workspace(0), &word, nullptr, stream));
  bits->resize(size_t(out_count(d)));
  std::vector<float> out(bits->size()), lse(size_t(lse_count(d)));
  BENCH_CUDA(cudaMemcpy(bits->data(), sets.out(0), bits->size() * 2, cudaMemcpyDeviceToHost));
  BENCH_CUDA(cudaMemcpy(lse.data(), sets.lse(0), lse.size() * 4, cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < out.size(); ++i) out[i] = bf16_to_float((*bits)[i]);
  check_finite(out, lse, word, r);

  const SetMetadata& m = sets.metadata(0);
  return check_cheapest_request(d, sets.data(0), [](void* dst, const void* src, size_t n) {
    return cuda_ok(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost), "cudaMemcpy (request to host)");
  }, m.q_offsets, m.kv_lens, m.page_table, out.data(), lse.data(), max_flops, r);
}

// How many rotation sets: enough that the sets span l2_multiple L2s (so a
// run never finds the inputs of the run before it in the cache), within the
// memory share.
Status choose_sets(const BenchConfig& c, const CardInfo& card, const CudaRunOptions& o, int64_t workspace_bytes,
                   int32_t* sets) {
  const ProblemDesc d1 = describe(c, 1);
  const double touched = workload(c).bytes;
  const double per_set = double(kv_pool_bytes(d1)) + double(kv_scales_count(d1)) * 4 + double(q_elems_bytes(d1)) +
                         double(out_count(d1)) * 2 + double(lse_count(d1)) * 4 + double(workspace_bytes);
  size_t free_b = 0, total_b = 0;
  BENCH_CUDA(cudaMemGetInfo(&free_b, &total_b));
  const double fit = std::floor(o.memory_share * double(free_b) / per_set);
  if (fit < 1)
    return Status(StatusCode::out_of_memory, "one set needs " + std::to_string(int64_t(per_set)) + " bytes; " +
                                                 std::to_string(int64_t(free_b)) + " are free");
  double want = std::ceil(o.l2_multiple * double(card.l2_bytes) / std::max(touched, 1.0));
  want = std::clamp(want, 2.0, double(std::max(2, o.max_sets)));
  *sets = int32_t(std::min(want, fit));
  return Status::Ok();
}

}  // namespace

Status run_cuda_config(const BenchConfig& c, const CardInfo& card, const CudaRunOptions& o,
                       std::vector<Measurement>* out) {
  OwnedStream stream;
  BENCH_CUDA(cudaStreamCreateWithFlags(&stream.s, cudaStreamNonBlocking));

  DecodePlan sizing;
  MLA_RETURN_IF_ERROR(mla::cuda::make_plan(describe(c, 1), &sizing));
  int32_t num_sets = 0;
  MLA_RETURN_IF_ERROR(choose_sets(c, card, o, sizing.workspace_bytes, &num_sets));
  const ProblemDesc d = describe(c, num_sets);
  MLA_RETURN_IF_ERROR(mla::cuda::make_plan(d, &sizing));
  std::unique_ptr<DeviceSets> sets;
  MLA_RETURN_IF_ERROR(DeviceSets::create(c, d, num_sets, sizing.workspace_bytes, o.seed, stream.s, &sets));
  std::fprintf(stderr, "  %d rotation sets spanning %.0f MB (%.0f MB allocated)\n", num_sets,
               workload(c).bytes * num_sets / 1e6, double(sets->allocated_bytes()) / 1e6);

  DecodePlan plan;
  MLA_RETURN_IF_ERROR(resolve_plan(d, o.kernel, c.q_len < MLA_MAX_Q_LEN ? c.q_len : MLA_MAX_Q_LEN, *sets, stream.s,
                                   &plan));
  CheckResult check;
  std::vector<uint16_t> first;
  MLA_RETURN_IF_ERROR(check_set0(plan, *sets, o.check_max_flops, stream.s, &check, &first));

  Measurement base;
  base.kernel = mla::cuda::to_string(plan.kernel);
  base.kernel_requested = mla::cuda::to_string(o.kernel);
  base.timer = "cuda_events";
  base.sets = num_sets;
  base.rotated_bytes = workload(c).bytes * num_sets;
  base.check = check;

  // After the timed runs: the status word is still clean and set 0 holds the
  // same bits as the checked run (the decode is deterministic).
  auto recheck = [&](Measurement* m) -> Status {
    uint32_t word = 0;
    MLA_RETURN_IF_ERROR(mla::cuda::read_status(plan, sets->workspace(0), &word, nullptr, stream.s));
    std::vector<uint16_t> now(first.size());
    BENCH_CUDA(cudaMemcpy(now.data(), sets->out(0), now.size() * 2, cudaMemcpyDeviceToHost));
    if (word != 0) m->check.pass = false, m->note += "status word 0x" + std::to_string(word) + " after the runs; ";
    if (std::memcmp(now.data(), first.data(), now.size() * 2) != 0) m->note += "output differs from the checked run; ";
    return Status::Ok();
  };

  // Times `launch(i)` (run i of the series) as one result of `mode`.
  auto measure = [&](const char* mode, const std::function<Status(int)>& launch) -> Status {
    Measurement m = base;
    m.mode = mode;
#if defined(MLA_DEV_TIMELINE)
    BENCH_CUDA(cudaStreamSynchronize(stream.s));
    timeline_step(c.name, mode, false);
#endif
    MLA_RETURN_IF_ERROR(time_series(stream.s, o.timing, launch, &m.time));
#if defined(MLA_DEV_TIMELINE)
    timeline_step(c.name, mode, true);
#endif
    m.state = card_state(card);
    MLA_RETURN_IF_ERROR(recheck(&m));
    out->push_back(m);
    return Status::Ok();
  };
  // Graph replay of one rotation set's work captured by `enqueue(s)`.
  auto measure_graphs = [&](const char* mode, const std::function<Status(int)>& enqueue) -> Status {
    GraphSet graphs;
    MLA_RETURN_IF_ERROR(graphs.capture(num_sets, stream.s, enqueue));
    return measure(mode, [&](int i) { return graphs.launch(i, stream.s); });
  };

  if (o.eager)
    MLA_RETURN_IF_ERROR(measure("eager", [&](int i) { return run_set(plan, *sets, i % num_sets, stream.s); }));
  if (o.graph)
    MLA_RETURN_IF_ERROR(measure_graphs("graph", [&](int s) { return run_set(plan, *sets, s, stream.s); }));
  if (o.layer) {
    // One plan per set (a decode step), then only decode() in the graph (a
    // layer): what a model with many attention layers pays per layer.
    for (int32_t s = 0; s < num_sets; ++s)
      MLA_RETURN_IF_ERROR(mla::cuda::run_planner(plan, sets->data(s), sets->workspace(s), sets->workspace_bytes(),
                                                 stream.s));
    MLA_RETURN_IF_ERROR(measure_graphs("layer", [&](int s) {
      return mla::cuda::decode(plan, sets->data(s), sets->workspace(s), sets->workspace_bytes(), sets->out(s),
                               sets->lse(s), stream.s);
    }));
  }
  return Status::Ok();
}

}  // namespace mla::tools::bench
