// Host-side bounds of the CUDA planner's schedule (cuda/src/planner.h), no GPU
// needed: the combine's unit bound that make_plan checks against 2^31 - 1 must
// hold for every schedule the planner can write (host mirror,
// planner_host.h) and must not refuse a valid desc (the validation table's row
// "total_q * num_heads = 2^31 - 2^24" was refused with 8523874304 units).
#include <doctest/doctest.h>

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "mla_test.h"
#include "planner_host.h"

namespace {

using namespace mla;
using namespace mla::test;
using namespace mla::cuda_impl;

// make_plan's unit bound for a desc and a part count.
int64_t units_bound(const ProblemDesc& d, int32_t num_parts, int64_t* partial_rows = nullptr) {
  const SplitMode mode =
      d.batch_invariant ? SplitMode::invariant : (d.num_splits > 0 ? SplitMode::fixed : SplitMode::automatic);
  const ScheduleBounds b = schedule_bounds(mode, d.num_splits, d.batch, d.num_heads, d.total_q,
                                           int64_t(d.max_pages) * d.page_size, num_parts);
  if (partial_rows) *partial_rows = b.partial_rows;
  return combine_units_bound(int64_t(d.total_q) * d.num_heads, d.batch, b.partial_rows);
}

}  // namespace

TEST_CASE("cuda bounds: the combine unit bound accepts the largest valid shapes") {
  ProblemDesc d;
  d.batch = 1 << 20;
  d.total_q = 1 << 24;
  d.num_heads = 127;  // total_q * num_heads = 2^31 - 2^24, inside validate_desc's bounds
  d.page_size = 16;
  d.max_pages = 4;
  for (int32_t parts : {1, 132, 4096}) {
    int64_t rows = 0;
    const int64_t units = units_bound(d, parts, &rows);
    INFO("parts " << parts << " partial rows " << rows);
    CHECK(units <= INT32_MAX);
  }
  // The extreme of the formula: every limit make_plan and validate_desc allow at once.
  CHECK(combine_units_bound(INT32_MAX, MLA_MAX_BATCH, INT32_MAX) <= INT32_MAX);
  CHECK(combine_units_bound(0, 0, 0) == 0);
}

TEST_CASE("cuda bounds: every host-mirror schedule stays within the combine unit and partial-row bounds") {
  std::vector<HostProblem> problems;
  for (const ProblemSpec& s : config_matrix(777, 16)) problems.push_back(make_problem(s));
  {
    ProblemSpec s;  // one long request: cut over every part (wide combine units)
    s.num_heads = 16;
    s.mask = MaskKind::causal;
    s.q_lens = {3};
    s.kv_lens = {30000};
    problems.push_back(make_problem(s));
    s.q_lens = {1, 2, 16, 1};  // uneven, one request above 16 tokens' worth of rows
    s.kv_lens = {9000, 100, 4000, 0};
    s.num_heads = 128;
    problems.push_back(make_problem(s));
  }
  int64_t wide_seen = 0;
  for (size_t i = 0; i < problems.size(); ++i) {
    HostProblem& p = problems[i];
    for (int variant = 0; variant < 5; ++variant) {
      ProblemDesc d = p.desc;
      std::vector<int32_t> table = p.page_table;
      if (variant == 1) d.num_splits = 64;
      if (variant == 2) d.batch_invariant = true;
      if (variant == 3 && !table.empty()) table[0] = d.num_pages + 1;  // a flagged request
      if (variant == 4) d.num_splits = 5;
      for (int32_t parts : {1, 7, 132, 500}) {
        PlannerParams hp = planner_problem(d, parts);
        hp.q_offsets = p.q_offsets.data();
        hp.kv_lens = p.kv_lens.data();
        hp.page_table = table.data();
        const HostSchedule h = plan_on_host(hp);
        int64_t rows = 0;
        const int64_t bound = units_bound(d, parts, &rows);
        INFO("problem " << i << " variant " << variant << " parts " << parts << ": " << p.describe());
        CHECK(h.partial_rows <= rows);
        CHECK(int64_t(h.combine_units.back()) <= bound);
        for (const RequestInfo& r : h.requests) wide_seen += r.num_splits >= kCombineWideSplits;
      }
    }
  }
  CHECK(wide_seen > 0);  // the wide-unit term of the bound was exercised
}

int main(int argc, char** argv) { return mla::test::run_suite(argc, argv, nullptr); }
