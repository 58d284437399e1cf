// The checks of this suite can fail: a perturbed input changes the reference
// where the contract says it must and nowhere else, a perturbed result is
// caught by the naive comparison, and closed-form cases come out exactly.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "mla/mask.h"
#include "mla_test.h"
#include "naive.h"

using namespace mla;
using namespace mla::test;

namespace {

HostProblem window_problem(RowFormat qf, RowFormat kf) {
  ProblemSpec s;
  s.num_heads = 4;
  s.q_format = qf;
  s.kv_format = kf;
  s.mask = MaskKind::sliding_window;
  s.window = 8;
  s.page_size = 16;
  s.q_lens = {4, 3};
  s.kv_lens = {100, 50};
  s.seed = 3;
  return make_problem(s);
}

int64_t slot(const HostProblem& p, int32_t b, int64_t t) {
  return int64_t(p.page_table[size_t(b) * p.desc.max_pages + size_t(t / p.desc.page_size)]) * p.desc.page_size +
         t % p.desc.page_size;
}

// Rows (token, head) of request b whose output or LSE differ bitwise between two runs.
int64_t changed_rows(const HostProblem& p, const Reference& a, const Reference& b, int32_t req) {
  int64_t n = 0;
  const int H = p.desc.num_heads;
  for (int64_t r = int64_t(p.q_offsets[req]) * H; r < int64_t(p.q_offsets[req + 1]) * H; ++r)
    n += std::memcmp(&a.out[size_t(r * MLA_DIM_V)], &b.out[size_t(r * MLA_DIM_V)], MLA_DIM_V * 4) != 0 ||
         std::memcmp(&a.lse[size_t(r)], &b.lse[size_t(r)], 4) != 0;
  return n;
}

}  // namespace

TEST_CASE("perturbation: a visible key changes its request only; a hidden key changes nothing") {
  for (RowFormat kf : {RowFormat::bf16, RowFormat::fp8_rope640}) {
    HostProblem p = window_problem(RowFormat::bf16, kf);
    const Reference base = run_reference(p);
    const int64_t rb = row_bytes(kf);

    // The last key of request 0 is visible to its last query (every head).
    HostProblem vis = p;
    vis.kv_pool[size_t(slot(p, 0, 99) * rb + 7)] ^= 0x20;
    const Reference r1 = run_reference(vis);
    CHECK(changed_rows(p, base, r1, 0) >= p.desc.num_heads);
    CHECK(changed_rows(p, base, r1, 1) == 0);

    // Key 10 of request 0 is outside every query's window (positions 96..99,
    // window 8): even NaN there must not reach any output.
    HostProblem hid = p;
    std::memset(&hid.kv_pool[size_t(slot(p, 0, 10) * rb)], 0xFF, size_t(rb));
    if (kf == RowFormat::fp8_rope640) hid.kv_scales[size_t(slot(p, 0, 10))] = NAN;
    const Reference r2 = run_reference(hid);
    CHECK(changed_rows(p, base, r2, 0) == 0);
    CHECK(changed_rows(p, base, r2, 1) == 0);
  }
}

TEST_CASE("perturbation: a scale changes exactly the rows it belongs to") {
  HostProblem p = window_problem(RowFormat::fp8_rope640, RowFormat::fp8_rope640);
  const Reference base = run_reference(p);
  // q_scales[5] is token 1 of request 1: its H rows change, no other row.
  HostProblem q = p;
  q.q_scales[5] *= 1.5f;
  const Reference r1 = run_reference(q);
  CHECK(changed_rows(p, base, r1, 0) == 0);
  CHECK(changed_rows(p, base, r1, 1) == p.desc.num_heads);
  // The kv scale of key 47 of request 1 (positions 47..49 all see it).
  HostProblem k = p;
  k.kv_scales[size_t(slot(p, 1, 47))] *= 0.5f;
  const Reference r2 = run_reference(k);
  CHECK(changed_rows(p, base, r2, 0) == 0);
  CHECK(changed_rows(p, base, r2, 1) == 3 * p.desc.num_heads);
}

TEST_CASE("the naive comparison catches a perturbed result") {
  const HostProblem p = window_problem(RowFormat::bf16, RowFormat::fp8_rope640);
  const Reference r = run_reference(p);
  const naive::Result n = naive::compute(p);
  std::string first;
  REQUIRE(naive::count_mismatches(p, n, r.out.data(), r.lse.data(), &first) == 0);
  // One output element off by 16 float ULPs (the tolerance is about 4), then
  // one LSE off by 1e-4, then one LSE turned NaN.
  Reference bad = r;
  for (int i = 0; i < 16; ++i) bad.out[1234] = std::nextafter(bad.out[1234], INFINITY);
  first.clear();
  CHECK(naive::count_mismatches(p, n, bad.out.data(), bad.lse.data(), &first) == 1);
  CHECK(first.find("out[2][210]") != std::string::npos);
  bad = r;
  bad.lse[3] += 1e-4f * std::max(1.f, std::fabs(bad.lse[3]));
  CHECK(naive::count_mismatches(p, n, bad.out.data(), bad.lse.data(), nullptr) == 1);
  bad = r;
  bad.lse[0] = NAN;
  CHECK(naive::count_mismatches(p, n, bad.out.data(), bad.lse.data(), nullptr) == 1);
}

TEST_CASE("closed form: identical keys give V exactly and LSE = logit + log(count)") {
  for (RowFormat kf : {RowFormat::bf16, RowFormat::fp8_rope640}) {
    ProblemSpec s;
    s.num_heads = 2;
    s.kv_format = kf;
    s.mask = MaskKind::causal;
    s.page_size = 8;
    s.q_lens = {3};
    s.kv_lens = {37};
    s.seed = 9;
    HostProblem p = make_problem(s);
    const int64_t rb = row_bytes(kf), s0 = slot(p, 0, 0);
    for (int64_t t = 1; t < 37; ++t) {
      std::memcpy(&p.kv_pool[size_t(slot(p, 0, t) * rb)], &p.kv_pool[size_t(s0 * rb)], size_t(rb));
      if (kf == RowFormat::fp8_rope640) p.kv_scales[size_t(slot(p, 0, t))] = p.kv_scales[size_t(s0)];
    }
    const Reference r = run_reference(p);
    double k[MLA_DIM_QK], q[MLA_DIM_QK];
    decode_row(kf, &p.kv_pool[size_t(s0 * rb)], kf == RowFormat::bf16 ? 1.f : p.kv_scales[size_t(s0)], k);
    for (int i = 0; i < 3; ++i)
      for (int h = 0; h < 2; ++h) {
        const int64_t row = i * 2 + h;
        decode_row(RowFormat::bf16, &p.q[size_t(row * MLA_ROW_BYTES_BF16)], 1.f, q);
        double dot = 0;
        for (int c = 0; c < MLA_DIM_QK; ++c) dot += q[c] * k[c];
        const double want = double(p.desc.softmax_scale) * dot + std::log(35.0 + i);  // keys 0..34+i
        CHECK(r.lse[size_t(row)] == doctest::Approx(want).epsilon(1e-6));
        for (int c = 0; c < MLA_DIM_V; ++c)
          if (r.out[size_t(row * MLA_DIM_V + c)] != float(k[c])) {
            FAIL_CHECK("row " << row << " element " << c);
            break;
          }
      }
  }
}
