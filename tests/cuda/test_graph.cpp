// CUDA graphs: planner + decode captured once and replayed after new kv_lens
// (and q_offsets) were written to the device give bitwise the results of
// direct calls with those lengths, and match the reference.
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include "cuda_harness.h"

namespace {

using namespace mla;
using namespace mla::test;

#define CUDA_CHECK_OK(call) REQUIRE_MESSAGE((call) == cudaSuccess, #call)

}  // namespace

TEST_CASE("cuda graphs: captured plan + decode replayed with changed lengths equals direct calls") {
  for (int32_t splits : {0, 3}) {
    for (bool invariant : {false, true}) {
      ProblemSpec s;
      s.num_heads = 16;
      s.q_format = RowFormat::bf16;
      s.kv_format = splits == 0 ? RowFormat::bf16 : RowFormat::fp8_rope640;
      s.mask = MaskKind::causal;
      s.page_size = 64;
      s.q_lens = {1, 4, 2, 1};
      s.kv_lens = {3000, 2500, 4100, 700};  // the largest lengths; replays use shorter ones
      s.num_splits = splits;
      s.batch_invariant = invariant;
      s.seed = 31 + splits;
      const HostProblem base = make_problem(s);
      // The lengths of the replays (the first is the captured one) and, last,
      // the same total_q cut differently by new q_offsets; references once.
      const std::vector<std::vector<int32_t>> lengths = {
          {3000, 2500, 4100, 700}, {17, 2500, 64, 1}, {2999, 4, 4100, 700}, {1, 2048, 2049, 650}};
      std::vector<HostProblem> variants;
      for (const auto& kv : lengths) {
        variants.push_back(base);
        variants.back().kv_lens = kv;
      }
      variants.push_back(base);
      variants.back().q_offsets = {0, 2, 4, 7, 8};
      std::vector<Reference> refs;
      for (const HostProblem& v : variants) refs.push_back(run_reference(v));
      gpu::for_each_kernel([&](const mla::cuda::PlanOptions& opt) {
        INFO("splits=" << splits << " invariant=" << invariant);
        gpu::DeviceProblem dp(base, opt);

        cudaGraph_t graph = nullptr;
        cudaGraphExec_t exec = nullptr;
        CUDA_CHECK_OK(cudaStreamBeginCapture(dp.stream(), cudaStreamCaptureModeThreadLocal));
        dp.enqueue();
        CUDA_CHECK_OK(cudaStreamEndCapture(dp.stream(), &graph));
        CUDA_CHECK_OK(cudaGraphInstantiate(&exec, graph, 0));

        for (size_t v = 0; v < variants.size(); ++v) {
          const HostProblem& p = variants[v];
          dp.set_kv_lens(p.kv_lens);
          dp.set_q_offsets(p.q_offsets);
          dp.poison_outputs();
          CUDA_CHECK_OK(cudaGraphLaunch(exec, dp.stream()));
          const gpu::Result replay = dp.download();
          const gpu::Result direct = gpu::run(p, opt);
          CHECK_MESSAGE(gpu::bitwise_equal(replay.out, replay.lse, direct.out, direct.lse),
                        "replay " << v << " differs from a direct call: " << p.describe());
          gpu::check_against_reference(p, refs[v], replay, "graph replay " + std::to_string(v));
        }

        CUDA_CHECK_OK(cudaGraphExecDestroy(exec));
        CUDA_CHECK_OK(cudaGraphDestroy(graph));
      });
    }
  }
}
