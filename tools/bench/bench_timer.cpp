// CUDA-event timing and its statistics (bench_timer.h).
#include "bench_timer.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "bench_cuda_check.h"

namespace mla::tools::bench {

Status time_each(cudaStream_t stream, int count, const std::function<Status(int)>& body, std::vector<double>* ms) {
  std::vector<cudaEvent_t> ev(size_t(count) * 2, nullptr);
  // Destroy what was created whatever happens below.
  struct Guard {
    std::vector<cudaEvent_t>* ev;
    ~Guard() {
      for (cudaEvent_t e : *ev)
        if (e) (void)cudaEventDestroy(e);
    }
  } guard{&ev};
  for (cudaEvent_t& e : ev) BENCH_CUDA(cudaEventCreate(&e));
  for (int i = 0; i < count; ++i) {
    BENCH_CUDA(cudaEventRecord(ev[size_t(i) * 2], stream));
    MLA_RETURN_IF_ERROR(body(i));
    BENCH_CUDA(cudaEventRecord(ev[size_t(i) * 2 + 1], stream));
  }
  BENCH_CUDA(cudaStreamSynchronize(stream));
  ms->assign(size_t(count), 0.0);
  for (int i = 0; i < count; ++i) {
    float t = 0;
    BENCH_CUDA(cudaEventElapsedTime(&t, ev[size_t(i) * 2], ev[size_t(i) * 2 + 1]));
    (*ms)[size_t(i)] = double(t);
  }
  return Status::Ok();
}

Status time_series(cudaStream_t stream, const TimingPlan& plan, const std::function<Status(int)>& body,
                   TimeStats* stats) {
  std::vector<double> ms;
  MLA_RETURN_IF_ERROR(time_each(stream, std::max(1, plan.min_warmup), body, &ms));
  const TimeStats warm = summarize(ms);
  const double est_ms = std::max(warm.median_us * 1e-3, 1e-3);
  const int runs = int(std::clamp(std::ceil(plan.target_ms / est_ms), double(plan.min_runs), double(plan.max_runs)));
  // Iteration numbers continue after the warm-up so that rotating inputs keep rotating.
  const int offset = std::max(1, plan.min_warmup);
  MLA_RETURN_IF_ERROR(time_each(stream, runs, [&](int i) { return body(offset + i); }, &ms));
  *stats = summarize(ms);
  return Status::Ok();
}

}  // namespace mla::tools::bench
