// One plan per decode step, one decode() per layer: run_planner() once, then
// decode() for several layers (different Q and KV pools, the same metadata)
// on the planned workspace. Each layer must give bitwise the result of a
// call of its own (planner + decode) and match the reference: decode() must
// not consume or change anything of the schedule that a later call reads.
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <memory>

#include "cuda_harness.h"

namespace {

using namespace mla;
using namespace mla::test;

#define CUDA_CHECK_OK(call) REQUIRE_MESSAGE((call) == cudaSuccess, #call)

// Negates every value of the pool (free slots stay NaN): the sign bit of
// each E4M3 content byte and of each BF16 value (the high byte of a
// little-endian pair).
void flip_kv_signs(HostProblem* p) {
  const bool fp8 = p->desc.kv_format == RowFormat::fp8_rope640;
  const size_t rb = size_t(row_bytes(p->desc.kv_format));
  for (size_t i = 0; i < p->kv_pool.size(); ++i) {
    const size_t at = i % rb;
    const bool content_fp8 = fp8 && at < MLA_FP8_ROPE_BYTE_OFFSET;
    const bool bf16_high_byte = (at - (fp8 ? MLA_FP8_ROPE_BYTE_OFFSET : 0)) % 2 == 1;
    const bool sign_byte = content_fp8 || bf16_high_byte;
    if (sign_byte) p->kv_pool[i] ^= 0x80;
  }
}

}  // namespace

TEST_CASE("cuda: one run_planner serves several decode() calls (a plan per step, a decode per layer)") {
  for (int32_t splits : {0, 3}) {
    ProblemSpec s;
    s.num_heads = 16;
    s.kv_format = splits == 0 ? RowFormat::bf16 : RowFormat::fp8_rope640;
    s.mask = MaskKind::causal;
    s.page_size = 64;
    s.q_lens = {1, 4, 2, 1};
    s.kv_lens = {3000, 2500, 4100, 700};
    s.num_splits = splits;
    s.seed = 77 + splits;
    // Layers: the same seed deals the same pages (the shuffle comes first)
    // and draws the same numbers; another sigma and scale range turn them
    // into other values (FP8 codes do not depend on sigma, only the scales
    // do), and layer 1's KV pool has every sign flipped, so that each format
    // gets a pool of other bytes.
    std::vector<HostProblem> layers;
    std::vector<Reference> refs;
    for (float sigma : {1.f, 0.5f, 2.f}) {
      ProblemSpec l = s;
      l.value_sigma = sigma;
      l.scale_lo = 0.25f * sigma;
      l.scale_hi = 4.f * sigma;
      layers.push_back(make_problem(l));
      if (layers.size() == 2) flip_kv_signs(&layers.back());
      refs.push_back(run_reference(layers.back()));
      REQUIRE(layers.back().page_table == layers[0].page_table);
      REQUIRE(layers.back().kv_lens == layers[0].kv_lens);
      REQUIRE(layers.back().q_offsets == layers[0].q_offsets);
    }
    REQUIRE(layers[1].kv_pool != layers[0].kv_pool);
    REQUIRE(layers[1].q != layers[0].q);

    gpu::for_each_kernel([&](const mla::cuda::PlanOptions& opt) {
      INFO("splits=" << splits);
      std::vector<std::unique_ptr<gpu::DeviceProblem>> dps;
      for (const HostProblem& l : layers) {
        dps.push_back(std::make_unique<gpu::DeviceProblem>(l, opt));
        dps.back()->poison_outputs();
      }
      // Layer 0's workspace and stream carry the step; the other layers
      // bring only their Q, KV pool and outputs.
      const gpu::DeviceProblem& step = *dps[0];
      const mla::cuda::DecodePlan& plan = step.plan();
      STATUS_REQUIRE(mla::cuda::run_planner(plan, step.data(), step.workspace(), plan.workspace_bytes, step.stream()));
      for (const auto& dp : dps)
        STATUS_REQUIRE(mla::cuda::decode(plan, dp->data(), step.workspace(), plan.workspace_bytes, dp->out(),
                                         dp->lse(), step.stream()));
      CUDA_CHECK_OK(cudaStreamSynchronize(step.stream()));

      for (size_t i = 0; i < layers.size(); ++i) {
        const HostProblem& p = layers[i];
        gpu::Result got;
        got.out.resize(out_count(p.desc));
        got.lse.resize(lse_count(p.desc));
        got.request_status.assign(p.desc.batch, 0xDEADBEEFu);
        CUDA_CHECK_OK(cudaMemcpy(got.out.data(), dps[i]->out(), got.out.size() * 2, cudaMemcpyDeviceToHost));
        CUDA_CHECK_OK(cudaMemcpy(got.lse.data(), dps[i]->lse(), got.lse.size() * 4, cudaMemcpyDeviceToHost));
        STATUS_REQUIRE(mla::cuda::read_status(plan, step.workspace(), &got.status, got.request_status.data(),
                                              step.stream()));
        const gpu::Result own = gpu::run(p, opt);
        CHECK_MESSAGE(gpu::bitwise_equal(got.out, got.lse, own.out, own.lse),
                      "layer " << i << " decoded with layer 0's plan differs from a call of its own");
        gpu::check_against_reference(p, refs[i], got, "layer " + std::to_string(i));
      }
    });
  }
}
