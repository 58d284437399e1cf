// One config on the Vulkan backend (bench_vulkan_run.h).
#include "bench_vulkan_run.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "bench_host_problem.h"
#include "bench_metrics.h"

namespace mla::tools::bench {

Status run_vulkan_config(Runner& runner, const BenchConfig& c, const VulkanRunOptions& o,
                         std::vector<Measurement>* out) {
  const OwnedProblem p = make_host_problem(c, o.seed);
  RunOutput r;
  MLA_RETURN_IF_ERROR(runner.run(p.desc, p.data(), &r));  // the checked run
  if (!(r.kernel_ms >= 0))
    return Status(StatusCode::unsupported, "the Vulkan device gives no timestamps (kernel_ms), so nothing can be timed");
  Measurement m;
  m.mode = "eager";  // the passes submitted each run (recorded once); Vulkan has no graph mode
  m.kernel = "vulkan";
  m.kernel_requested = "vulkan";
  m.timer = "vk_timestamps";
  // One input set, resident on the device for every run (nothing rotates):
  // as in the CUDA runs (workload bytes x sets), rotated_bytes is what the
  // sets span, here what one run reads, so rotated_mb against the L2 size
  // tells whether repeated runs could be served from L2. Not 0: the runs do
  // read those bytes; not only the KV: Q, output and LSE are in the set too.
  m.sets = 1;
  m.rotated_bytes = workload(c).bytes;
  check_finite(r.out, r.lse, r.status_word, &m.check);
  MLA_RETURN_IF_ERROR(check_cheapest_request(p.desc, p.data(), [](void* dst, const void* src, size_t n) {
    std::memcpy(dst, src, n);
    return Status::Ok();
  }, p.q_offsets, p.kv_lens, p.page_table, r.out.data(), r.lse.data(), o.check_max_flops, &m.check));

  // Runs from the checked run's time (cold clocks: an overestimate, so at
  // worst fewer runs than target_ms asks, never fewer than min_runs).
  const double want = std::ceil(o.target_ms / r.kernel_ms);
  const int reps = int(std::min<double>(o.max_runs, std::max<double>(o.min_runs, want)));
  RunOutput timed;
  std::vector<double> ms;
  MLA_RETURN_IF_ERROR(runner.time_resident(p.desc, p.data(), o.warmup_ms, reps, &timed, &ms));
  if (timed.status_word != 0)
    m.check.pass = false, m.note += "status word 0x" + std::to_string(timed.status_word) + " in the timed call; ";
  if (std::memcmp(timed.out.data(), r.out.data(), r.out.size() * sizeof(float)) != 0 ||
      std::memcmp(timed.lse.data(), r.lse.data(), r.lse.size() * sizeof(float)) != 0)
    m.check.pass = false, m.note += "output differs from the checked run (the decode is deterministic); ";
  m.time = summarize(ms);
  out->push_back(m);
  return Status::Ok();
}

}  // namespace mla::tools::bench
