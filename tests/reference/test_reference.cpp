// The float64 reference against the naive materialised-score-matrix
// formulation, over many random problems.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "mla/numeric.h"
#include "mla_test.h"
#include "naive.h"
#include "wide_spec.h"

using namespace mla;
using namespace mla::test;

int main(int argc, char** argv) { return run_suite(argc, argv, nullptr); }

namespace {

// Runs the reference into poisoned buffers, checks that every element was
// written, and returns the number of elements that disagree with the naive result.
int64_t check_against_naive(const HostProblem& p) {
  INFO(p.describe());
  std::vector<float> out(size_t(out_count(p.desc))), lse(size_t(lse_count(p.desc)));
  float poison_f;
  std::memcpy(&poison_f, &kPoisonF32Bits, 4);
  std::fill(out.begin(), out.end(), poison_f);
  std::fill(lse.begin(), lse.end(), poison_f);
  const Status st = reference_decode(p.desc, p.data(), out.data(), lse.data());
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  int64_t unwritten = 0;
  for (float f : out) unwritten += is_poison(f);
  for (float f : lse) unwritten += is_poison(f);
  CHECK_MESSAGE(unwritten == 0, unwritten << " elements never written");
  std::string first;
  const int64_t bad = naive::count_mismatches(p, naive::compute(p), out.data(), lse.data(), &first);
  CHECK_MESSAGE(bad == 0, bad << " mismatches; first: " << first);
  return bad;
}

}  // namespace

TEST_CASE("naive decoders: every BF16 and E4M3 pattern agrees with mla/numeric.h") {
  // The naive check decodes rows on its own; both decoders must agree on every
  // code, or the comparison below would test nothing about the format.
  for (int c = 0; c < 256; ++c) {
    const double a = naive::e4m3_value(uint8_t(c)), b = fp8_e4m3_to_float(uint8_t(c));
    CHECK_MESSAGE((a == b || (std::isnan(a) && std::isnan(b))), "e4m3 code " << c);
  }
  for (uint32_t h = 0; h < 65536; ++h) {
    const double a = naive::bf16_value(uint16_t(h)), b = bf16_to_float(uint16_t(h));
    if (!(a == b || (std::isnan(a) && std::isnan(b)))) FAIL_CHECK("bf16 pattern " << h);
  }
}

TEST_CASE("reference == naive: wide random problems (all masks, format pairs, page sizes 1..512)") {
  std::mt19937_64 rng(20240611);
  int masks_seen[4] = {0, 0, 0, 0}, empty_rows = 0;
  for (int i = 0; i < 96; ++i) {
    const ProblemSpec s = wide_spec(rng, i, 60000);
    const HostProblem p = make_problem(s);
    ++masks_seen[int(s.mask)];
    for (size_t b = 0; b < s.q_lens.size(); ++b) empty_rows += s.kv_lens[b] == 0 && s.q_lens[b] > 0;
    check_against_naive(p);
  }
  for (int m = 0; m < 4; ++m) CHECK(masks_seen[m] == 24);
  CHECK(empty_rows > 0);  // mask none with kv_len 0 and queries: output 0, LSE -inf
}

TEST_CASE("reference == naive: the device suites' configuration matrix") {
  for (const ProblemSpec& s : config_matrix(77, 36, 300)) check_against_naive(make_problem(s));
}

TEST_CASE("reference == naive: FP8 magnitudes at the format's edges") {
  // Scales from 2^-20 to 2^20 (FP8 rows hold codes up to +-448 times their scale).
  std::mt19937_64 rng(5);
  for (int i = 0; i < 6; ++i) {
    ProblemSpec s = wide_spec(rng, 2 + 3 * i, 20000);  // index % 3 == 2: (fp8, fp8)
    s.scale_lo = std::ldexp(1.f, -20);
    s.scale_hi = std::ldexp(1.f, 20);
    s.softmax_scale = std::ldexp(1.f, -12);
    check_against_naive(make_problem(s));
  }
}

TEST_CASE("reference == naive: NaN in a visible key reaches exactly the rows that see it") {
  ProblemSpec s;
  s.num_heads = 3;
  s.mask = MaskKind::sliding_window;
  s.window = 6;
  s.page_size = 4;
  s.q_lens = {5, 2};
  s.kv_lens = {30, 9};
  s.seed = 11;
  HostProblem p = make_problem(s);
  // Key 26 of request 0 is seen by queries at positions 26..31 - only i = 1..4 (positions 26..29).
  const int64_t slot = int64_t(p.page_table[26 / 4]) * 4 + 26 % 4;
  uint16_t nan_bits = 0x7FC1;
  std::memcpy(&p.kv_pool[size_t(slot * MLA_ROW_BYTES_BF16 + 2 * 100)], &nan_bits, 2);
  check_against_naive(p);
  const Reference r = run_reference(p);
  for (int i = 0; i < 7; ++i)
    for (int h = 0; h < 3; ++h) {
      const bool sees = i >= 1 && i <= 4;
      CHECK_MESSAGE(std::isnan(r.lse[size_t(i * 3 + h)]) == sees, "query row " << i << " head " << h);
    }
}
