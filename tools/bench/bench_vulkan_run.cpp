// One config on the Vulkan backend (bench_vulkan_run.h).
#include "bench_vulkan_run.h"

#include <cmath>
#include <cstring>

#include "bench_host_problem.h"
#include "bench_metrics.h"

namespace mla::tools::bench {

Status run_vulkan_config(Runner& runner, const BenchConfig& c, const VulkanRunOptions& o,
                         std::vector<Measurement>* out) {
  const OwnedProblem p = make_host_problem(c, o.seed);
  RunOutput r;
  MLA_RETURN_IF_ERROR(runner.run(p.desc, p.data(), &r));  // warm-up (and the checked run)
  if (!(r.kernel_ms >= 0))
    return Status(StatusCode::unsupported, "the Vulkan device gives no timestamps (kernel_ms), so nothing can be timed");
  Measurement m;
  m.mode = "eager";  // recorded and submitted each run; Vulkan has no graph mode
  m.kernel = "vulkan";
  m.kernel_requested = "vulkan";
  m.timer = "vk_timestamps";
  m.sets = 1;
  m.rotated_bytes = workload(c).bytes;
  check_finite(r.out, r.lse, r.status_word, &m.check);
  MLA_RETURN_IF_ERROR(check_cheapest_request(p.desc, p.data(), [](void* dst, const void* src, size_t n) {
    std::memcpy(dst, src, n);
    return Status::Ok();
  }, p.q_offsets, p.kv_lens, p.page_table, r.out.data(), r.lse.data(), o.check_max_flops, &m.check));

  std::vector<double> ms;
  double wall = 0;
  while (int(ms.size()) < o.max_runs && (int(ms.size()) < o.min_runs || wall < o.target_ms)) {
    MLA_RETURN_IF_ERROR(runner.run(p.desc, p.data(), &r));
    ms.push_back(r.kernel_ms);
    wall += r.wall_ms;
  }
  m.time = summarize(ms);
  out->push_back(m);
  return Status::Ok();
}

}  // namespace mla::tools::bench
