// FP8 E4M3 through the shaders: every finite code decodes exactly (the
// subnormals included, whatever the driver does with denormals), and a NaN
// code makes the rows that see it NaN.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "mla/numeric.h"
#include "vk_fixture.h"

using mla::test::HostProblem;
using mla::test::ProblemSpec;

namespace {

// One request, one query token, one head, kv_len keys, fp8 KV, scales 1.
HostProblem tiny(mla::RowFormat q_format, int kv_len) {
  ProblemSpec s;
  s.seed = vk_test::run_seed() + 40;
  s.num_heads = 1;
  s.q_format = q_format;
  s.kv_format = mla::RowFormat::fp8_rope640;
  s.page_size = 4;
  s.q_lens = {1};
  s.kv_lens = {kv_len};
  HostProblem p = mla::test::make_problem(s);
  std::fill(p.kv_scales.begin(), p.kv_scales.end(), 1.f);
  std::fill(p.q_scales.begin(), p.q_scales.end(), 1.f);
  return p;
}

uint8_t* kv_row(HostProblem& p, int key) {
  const int64_t slot = int64_t(p.page_table[key / p.desc.page_size]) * p.desc.page_size + key % p.desc.page_size;
  return &p.kv_pool[slot * MLA_ROW_BYTES_FP8];
}

}  // namespace

TEST_CASE("fp8: every finite e4m3 code is decoded exactly") {
  // Q = 0: one key gets weight 1, so the output is its V, exactly (every e4m3
  // value is a BF16 value).
  HostProblem p = tiny(mla::RowFormat::bf16, 1);
  std::fill(p.q.begin(), p.q.end(), 0);
  uint8_t* row = kv_row(p, 0);
  for (int d = 0; d < MLA_DIM_CONTENT; ++d) {
    const int code = d % 256;
    row[d] = uint8_t((code & 0x7F) == 0x7F ? 0 : code);  // the two NaN codes have their own test
  }
  const vk_test::Result r = vk_test::run(p);
  for (int d = 0; d < MLA_DIM_CONTENT; ++d) {
    // Equal as values: 0x80 (-0) comes out as +0 (0 + -0 in the sum), as in the reference.
    INFO("code " << int(row[d]));
    CHECK(mla::bf16_to_float(r.out[d]) == mla::fp8_e4m3_to_float(row[d]));
  }
  CHECK(r.lse[0] == 0.f);  // log(exp(0))
}

TEST_CASE("fp8: subnormal query codes reach the logits") {
  // Q content codes 0..7 (zero and the subnormals m * 2^-9), key 1 all ones:
  // logit_1 = sum(q) = 64 * 28 / 512 = 3.5 and key 0 (zeros) has logit 0, so
  // LSE = log(1 + e^3.5); flushed subnormals would give log 2.
  HostProblem p = tiny(mla::RowFormat::fp8_rope640, 2);
  p.desc.softmax_scale = 1.f;
  std::fill(p.q.begin(), p.q.end(), 0);
  for (int d = 0; d < MLA_DIM_CONTENT; ++d) p.q[d] = uint8_t(d % 8);
  std::memset(kv_row(p, 0), 0, MLA_ROW_BYTES_FP8);
  uint8_t* one = kv_row(p, 1);
  std::memset(one, 0, MLA_ROW_BYTES_FP8);
  std::memset(one, 0x38, MLA_DIM_CONTENT);  // 0x38 = 1.0
  const vk_test::Result r = vk_test::run(p);
  CHECK(r.lse[0] == doctest::Approx(std::log1p(std::exp(3.5))).epsilon(1e-6));
  vk_test::check_against_reference(p, r);
}

TEST_CASE("fp8: a NaN code makes the row NaN") {
  for (uint8_t nan_code : {uint8_t(0x7F), uint8_t(0xFF)}) {
    HostProblem p = tiny(mla::RowFormat::bf16, 3);
    kv_row(p, 1)[17] = nan_code;
    const vk_test::Result r = vk_test::run(p);
    CHECK(std::isnan(r.lse[0]));
    CHECK(std::isnan(mla::bf16_to_float(r.out[5])));
    vk_test::check_against_reference(p, r);
  }
}
