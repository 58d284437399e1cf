// Split-K: every split count and the automatic split agree with the
// reference; batch-invariant mode gives a request bitwise the same result
// whatever the rest of the batch and the grid; every mode is bitwise
// deterministic from run to run.
#include <doctest/doctest.h>

#include "cuda_harness.h"

namespace {

using namespace mla;
using namespace mla::test;

HostProblem three_requests(RowFormat qf, RowFormat kvf, MaskKind mask, bool invariant, int32_t splits) {
  ProblemSpec s;
  s.num_heads = 20;
  s.q_format = qf;
  s.kv_format = kvf;
  s.mask = mask;
  if (mask == MaskKind::sliding_window) s.window = 1500;
  s.page_size = 32;
  s.q_lens = {2, 3, 1};
  s.kv_lens = {2100, 5000, 77};
  s.batch_invariant = invariant;
  s.num_splits = splits;
  s.seed = 99;
  return make_problem(s);
}

}  // namespace

TEST_CASE("cuda: split counts 1..64 and the automatic split agree with the reference") {
  for (MaskKind mask : {MaskKind::none, MaskKind::causal, MaskKind::sliding_window}) {
    for (int32_t splits : {0, 1, 2, 3, 7, 64}) {
      const HostProblem p = three_requests(RowFormat::bf16, RowFormat::fp8_rope640, mask, false, splits);
      const Reference ref = run_reference(p);
      for (int32_t parts : {0, 1, 3, 500}) {
        mla::cuda::PlanOptions base;
        base.num_parts = parts;
        gpu::for_each_kernel(
            [&](const mla::cuda::PlanOptions& opt) {
              gpu::check_against_reference(p, ref, gpu::run(p, opt),
                                            "splits=" + std::to_string(splits) + " parts=" + std::to_string(parts));
            },
            base);
      }
    }
  }
}

TEST_CASE("cuda: batch-invariant mode: a request's result is bitwise independent of the batch and the grid") {
  for (const auto& pr : {std::pair<RowFormat, RowFormat>{RowFormat::bf16, RowFormat::bf16},
                         std::pair<RowFormat, RowFormat>{RowFormat::fp8_rope640, RowFormat::fp8_rope640}}) {
    HostProblem batch = three_requests(pr.first, pr.second, MaskKind::causal, true, 0);
    const HostProblem alone = gpu::extract_request(batch, 1);
    // The same request next to other neighbours: shorter first and third requests.
    HostProblem other = batch;
    other.kv_lens[0] = 300;
    other.kv_lens[2] = 5;
    gpu::for_each_kernel([&](mla::cuda::PlanOptions opt) {
      INFO(batch.describe());
      const gpu::Result r_alone = gpu::run(alone, opt);
      const Reference ref = run_reference(alone);
      gpu::check_against_reference(alone, ref, r_alone, "alone");
      for (int32_t parts : {0, 1, 7}) {
        opt.num_parts = parts;
        for (const HostProblem* p : {&batch, &other}) {
          const gpu::Result r = gpu::run(*p, opt);
          std::vector<uint16_t> out;
          std::vector<float> lse;
          gpu::slice_request(*p, 1, r, &out, &lse);
          CHECK_MESSAGE(gpu::bitwise_equal(out, lse, r_alone.out, r_alone.lse),
                        "request 1 differs from its run alone (parts=" << parts << ")");
        }
      }
    });
  }
}

TEST_CASE("cuda: results are bitwise reproducible from run to run") {
  for (int32_t splits : {0, 3}) {
    const HostProblem p = three_requests(RowFormat::bf16, RowFormat::bf16, MaskKind::none, false, splits);
    gpu::for_each_kernel([&](const mla::cuda::PlanOptions& opt) {
      gpu::DeviceProblem dp(p, opt);
      dp.enqueue();
      const gpu::Result a = dp.download();
      dp.poison_outputs();
      dp.enqueue();
      const gpu::Result b = dp.download();
      const gpu::Result c = gpu::run(p, opt);
      CHECK_MESSAGE(gpu::bitwise_equal(a.out, a.lse, b.out, b.lse), "splits=" << splits);
      CHECK_MESSAGE(gpu::bitwise_equal(a.out, a.lse, c.out, c.lse), "splits=" << splits);
    });
  }
}
