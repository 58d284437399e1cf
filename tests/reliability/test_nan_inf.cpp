// NaN and Inf in the inputs: in one Q element, in one cache row, in a scale.
// Only the query rows that see the bad value may change: every other row is
// bitwise what the clean problem gives. What the changed rows hold:
//  - NaN anywhere (Q, K, V, a scale): the whole row is NaN, as in the float64
//    reference;
//  - Inf that reaches only logits (Q, the rope of a cached row, sigma_q): the
//    reference's result: a +inf logit makes the row NaN (inf - inf), a -inf
//    logit gives its key weight 0, like a masked key;
//  - Inf that reaches V (the content of a BF16 cached row, sigma_k): IEEE
//    leaves 0 * inf = NaN to a key of weight 0, and a backend that applies
//    sigma_k after the dot product sees +-inf where the reference's row holds
//    NaN (content 0 times inf); the contract does not pin these, so only the
//    isolation is checked.
// NaN in cache slots beyond kv_len and in spare pages (make_problem fills
// both) and in keys the mask hides never reaches any output.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "backend.h"
#include "bits.h"
#include "known_bugs.h"
#include "mla/mask.h"
#include "mla/numeric.h"
#include "problem_edit.h"
#include "seed.h"
#include "tally.h"

using mla::MaskKind;
using mla::RowFormat;
using mla::test::HostProblem;
using mla::test::ProblemSpec;

namespace {

const std::pair<RowFormat, RowFormat> kPairs[] = {{RowFormat::bf16, RowFormat::bf16},
                                                  {RowFormat::bf16, RowFormat::fp8_rope640},
                                                  {RowFormat::fp8_rope640, RowFormat::fp8_rope640}};
const MaskKind kMasks[] = {MaskKind::causal, MaskKind::sliding_window, MaskKind::chunked};

// Three requests, multi-token, so that under a causal-family mask some keys
// are seen by some queries of a request and not by others.
HostProblem base_problem(std::mt19937_64& rng, std::pair<RowFormat, RowFormat> pair, MaskKind mask, int32_t splits) {
  ProblemSpec s;
  s.seed = rng();
  s.num_heads = 8;
  s.q_format = pair.first;
  s.kv_format = pair.second;
  s.mask = mask;
  if (mask == MaskKind::sliding_window) s.window = 24;
  if (mask == MaskKind::chunked) s.chunk = 32;
  s.page_size = 16;
  s.q_lens = {1, 4, 3};
  s.kv_lens = {37, 150, 70};
  s.num_splits = splits;
  return mla::test::make_problem(s);
}

bool bits_equal(const rel::Run& a, const rel::Run& b, int64_t row) {
  return std::equal(a.out.begin() + row * MLA_DIM_V, a.out.begin() + (row + 1) * MLA_DIM_V,
                    b.out.begin() + row * MLA_DIM_V) &&
         rel::same_bits(&a.lse[size_t(row)], &b.lse[size_t(row)], 1);
}

// A clean run: every output finite although free slots and spare pages hold NaN.
rel::Run clean_run(const HostProblem& p) {
  const rel::Run r = rel::must_decode(p);
  int64_t nan = 0;
  for (uint16_t v : r.out) nan += !std::isfinite(mla::bf16_to_float(v));
  for (size_t i = 0; i < r.lse.size(); ++i) nan += std::isnan(r.lse[i]);
  INFO(rel::backend().name() << ": " << p.describe());
  CHECK_MESSAGE(nan == 0, nan << " non-finite outputs from finite live data (NaN in free slots leaked)");
  rel::count("NaN/Inf", "clean problems with NaN in every free slot and spare page: no NaN out");
  return r;
}

// What the rows that see the bad value must hold (see the top of the file).
enum class Expect { nan_rows, reference, isolation_only };

Expect expect_for(char kind, bool reaches_v) {
  if (kind == 'n') return Expect::nan_rows;
  return reaches_v ? Expect::isolation_only : Expect::reference;
}

// The failures of `bad` against the expectation: it differs from the clean
// run only in `affected` rows (bitwise elsewhere); unless only isolation is
// checked, it changes at least one of them (when any is affected) and matches
// its own reference, and with nan_rows the affected rows are NaN throughout.
std::vector<std::string> isolation_failures(const HostProblem& bad_p, const rel::Run& clean,
                                            const std::set<int64_t>& affected, Expect expect) {
  std::vector<std::string> fails;
  const rel::Run bad = rel::must_decode(bad_p);
  int64_t changed = 0, leaked = 0, not_nan = 0;
  for (int64_t row = 0; row < mla::lse_count(bad_p.desc); ++row) {
    const bool same = bits_equal(clean, bad, row);
    if (!affected.count(row)) {
      leaked += !same;
      continue;
    }
    changed += !same;
    if (expect != Expect::nan_rows) continue;
    bool all_nan = std::isnan(bad.lse[size_t(row)]);
    for (int c = 0; c < MLA_DIM_V; ++c)
      all_nan &= std::isnan(mla::bf16_to_float(bad.out[size_t(row * MLA_DIM_V + c)]));
    not_nan += !all_nan;
  }
  if (leaked) fails.push_back(std::to_string(leaked) + " rows that do not see the bad value changed");
  if (expect == Expect::isolation_only) return fails;
  if (not_nan) fails.push_back(std::to_string(not_nan) + " rows see the NaN but are not NaN throughout");
  if (!affected.empty() && changed == 0) fails.push_back("no row changed: the bad value was never read");
  const mla::test::Reference ref = mla::test::run_reference(bad_p);
  const mla::test::CompareResult c = mla::test::compare(bad_p, bad.out.data(), bad.lse.data(), ref);
  if (!c.ok) fails.push_back("against the reference: " + c.first_failure);
  return fails;
}

// One case: checked, and counted as `what`; failures inside a known bug's
// scope go to that bug (known_bugs.h).
void check_isolated(const HostProblem& bad_p, const rel::Run& clean, const std::set<int64_t>& affected, Expect expect,
                    const std::string& what, rel::KnownBug* bug = nullptr, bool in_scope = false) {
  INFO(rel::backend().name() << ": " << what << "; " << bad_p.describe());
  const std::vector<std::string> fails = isolation_failures(bad_p, clean, affected, expect);
  if (bug) {
    bug->report(in_scope, fails);
  } else {
    for (const std::string& f : fails) CHECK_MESSAGE(false, f);
  }
  rel::count("NaN/Inf", what);
}

std::set<int64_t> as_set(const std::vector<int64_t>& v) { return std::set<int64_t>(v.begin(), v.end()); }

// A token that sees at least one key.
int64_t pick_token(std::mt19937_64& rng, const HostProblem& p) {
  std::vector<int64_t> ok;
  for (int64_t t = 0; t < p.desc.total_q; ++t)
    if (rel::token_sees_keys(p, t)) ok.push_back(t);
  REQUIRE(!ok.empty());
  return ok[std::uniform_int_distribution<size_t>(0, ok.size() - 1)(rng)];
}

// A (request, key) that some query sees: how = 0 the request's first visible
// key (the first one a kernel meets), 1 any, 2 one that only some of the
// request's queries see (when there is one).
std::pair<int32_t, int64_t> pick_key(std::mt19937_64& rng, const HostProblem& p, int how) {
  std::vector<std::pair<int32_t, int64_t>> all, first, partial;
  for (int32_t b = 0; b < p.desc.batch; ++b) {
    const int64_t q_len = p.q_offsets[size_t(b) + 1] - p.q_offsets[size_t(b)];
    const int64_t full = q_len * p.desc.num_heads;
    bool seen_first = false;
    for (int64_t t = 0; t < p.kv_lens[size_t(b)]; ++t) {
      const int64_t n = int64_t(rel::rows_seeing_key(p, b, t).size());
      if (n == 0) continue;
      all.push_back({b, t});
      if (!seen_first) first.push_back({b, t}), seen_first = true;
      if (n < full) partial.push_back({b, t});
    }
  }
  const auto& from = how == 0 ? first : how == 2 && !partial.empty() ? partial : all;
  REQUIRE(!from.empty());
  return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
}

}  // namespace

// Known-bug scopes (ids a backend may list in Backend::known_bug; both bugs
// were found in the Vulkan backend by these tables and fixed in 919f832):
//  - "nan-lost-in-split-combine": a row whose split-K partitions are NaN
//    comes out as 0 with LSE -inf instead of NaN (scope: explicit splits);
//  - "masked-key-scale-leak": a NaN / Inf sigma_k of one key reaches rows of
//    its request whose queries do not see that key (scope: kv scale cases).
const char kSplitCombineBug[] = "nan-lost-in-split-combine";
const char kScaleLeakBug[] = "masked-key-scale-leak";

TEST_CASE("nan/inf: a NaN or Inf in one Q element changes only that query row") {
  std::mt19937_64 rng(rel::run_seed() ^ 0x51);
  rel::KnownBug bug(kSplitCombineBug);
  for (const auto& pair : kPairs)
    for (int32_t splits : {0, 3}) {
      const HostProblem p = base_problem(rng, pair, MaskKind::causal, splits);
      const rel::Run clean = clean_run(p);
      for (char kind : {'n', '+', '-'})
        for (int rep = 0; rep < 2; ++rep) {
          HostProblem bad = p;
          const int64_t t = pick_token(rng, p);
          const int32_t h = int32_t(rng() % uint64_t(p.desc.num_heads));
          // E4M3 has no infinity: Inf goes into the BF16 rope part of an fp8 row.
          const bool content_ok = kind == 'n' || pair.first == RowFormat::bf16;
          const int c = content_ok ? int(rng() % MLA_DIM_QK) : MLA_DIM_CONTENT + int(rng() % MLA_DIM_ROPE);
          rel::poke(pair.first, rel::q_row(bad, t, h), c, kind, uint32_t(rng()));
          check_isolated(bad, clean, {t * p.desc.num_heads + h}, expect_for(kind, false),
                         std::string(kind == 'n' ? "NaN" : "Inf") + " in one Q element", &bug, splits != 0);
        }
    }
}

TEST_CASE("nan/inf: a NaN or Inf in one cache row changes only the rows whose queries see that key") {
  std::mt19937_64 rng(rel::run_seed() ^ 0x52);
  for (const auto& pair : kPairs)
    for (MaskKind mask : kMasks) {
      const HostProblem p = base_problem(rng, pair, mask, mask == MaskKind::chunked ? 2 : 0);
      const rel::Run clean = clean_run(p);
      for (char kind : {'n', '+', '-'})
        for (int how = 0; how < 3; ++how) {
          HostProblem bad = p;
          const auto [b, t] = pick_key(rng, p, how);
          const bool content_ok = kind == 'n' || pair.second == RowFormat::bf16;
          const int c = content_ok ? int(rng() % MLA_DIM_QK) : MLA_DIM_CONTENT + int(rng() % MLA_DIM_ROPE);
          rel::poke(pair.second, rel::kv_row(bad, rel::kv_slot(p, b, t)), c, kind, uint32_t(rng()));
          const bool in_v = c < MLA_DIM_V;
          check_isolated(bad, clean, as_set(rel::rows_seeing_key(p, b, t)), expect_for(kind, in_v),
                         kind == 'n' ? "NaN in one cache row"
                                     : in_v ? "Inf in one cache row (V)" : "Inf in one cache row (rope)");
        }
    }
}

TEST_CASE("nan/inf: a NaN or Inf scale changes only the rows that use it") {
  std::mt19937_64 rng(rel::run_seed() ^ 0x53);
  rel::KnownBug bug(kScaleLeakBug);
  const float kNaN = std::nanf(""), kInf = INFINITY;
  for (const auto& pair : kPairs) {
    if (pair.second == RowFormat::bf16) continue;  // no scales
    const HostProblem p = base_problem(rng, pair, MaskKind::causal, 0);
    const rel::Run clean = clean_run(p);
    for (float v : {kNaN, kInf, -kInf}) {
      const char kind = std::isnan(v) ? 'n' : '+';
      const std::string name = std::isnan(v) ? "NaN" : "Inf";
      for (int how = 0; how < 3; ++how) {  // sigma_k of one cached token (it scales V too)
        HostProblem bad = p;
        const auto [b, t] = pick_key(rng, p, how);
        bad.kv_scales[size_t(rel::kv_slot(p, b, t))] = v;
        check_isolated(bad, clean, as_set(rel::rows_seeing_key(p, b, t)), expect_for(kind, true),
                       name + " in one kv scale", &bug, true);
      }
      if (pair.first == RowFormat::fp8_rope640) {  // sigma_q of one query token: all its heads
        HostProblem bad = p;
        const int64_t t = pick_token(rng, p);
        bad.q_scales[size_t(t)] = v;
        std::set<int64_t> rows;
        for (int32_t h = 0; h < p.desc.num_heads; ++h) rows.insert(t * p.desc.num_heads + h);
        check_isolated(bad, clean, rows, expect_for(kind, false), name + " in one q scale");
      }
    }
  }
}

TEST_CASE("nan: NaN in keys that the mask hides from every query never reaches an output") {
  std::mt19937_64 rng(rel::run_seed() ^ 0x54);
  for (const auto& pair : kPairs)
    for (MaskKind mask : {MaskKind::sliding_window, MaskKind::chunked}) {
      const HostProblem p = base_problem(rng, pair, mask, 3);
      const rel::Run clean = clean_run(p);
      HostProblem bad = p;
      int64_t hidden = 0;
      for (int32_t b = 0; b < p.desc.batch; ++b)
        for (int64_t t = 0; t < p.kv_lens[size_t(b)]; ++t) {
          if (!rel::rows_seeing_key(p, b, t).empty()) continue;
          const int64_t slot = rel::kv_slot(p, b, t);
          for (int c = 0; c < MLA_DIM_QK; ++c) rel::poke(pair.second, rel::kv_row(bad, slot), c, 'n', uint32_t(c));
          if (!bad.kv_scales.empty()) bad.kv_scales[size_t(slot)] = std::nanf("");
          ++hidden;
        }
      REQUIRE(hidden > 0);
      check_isolated(bad, clean, {}, Expect::nan_rows, "NaN in every key hidden by the mask (whole rows and scales)");
      rel::count("NaN/Inf", "hidden keys filled with NaN", hidden);
    }
}
