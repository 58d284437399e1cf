// Output sanity and the one-request reference comparison (bench_check.h).
#include "bench_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "compare.h"
#include "mla/mask.h"
#include "mla/reference.h"

namespace mla::tools::bench {
namespace {

void append(CheckResult* r, const std::string& s, bool ok) {
  r->text += (r->text.empty() ? "" : "; ") + s;
  r->pass = r->pass && ok;
}

}  // namespace

void check_finite(const std::vector<float>& out, const std::vector<float>& lse, uint32_t status_word, CheckResult* r) {
  int64_t bad = 0, nonzero = 0;
  for (float v : out) bad += !std::isfinite(v), nonzero += v != 0.0f;
  for (float v : lse) bad += !std::isfinite(v);
  char buf[160];
  if (status_word != 0) {
    std::snprintf(buf, sizeof buf, "status word 0x%x", status_word);
    append(r, buf, false);
  }
  if (bad || nonzero == 0) {
    std::snprintf(buf, sizeof buf, "%lld non-finite values%s", (long long)bad, nonzero ? "" : ", output all zero");
    append(r, buf, false);
  } else {
    append(r, "finite", true);
  }
}

Status check_cheapest_request(const ProblemDesc& d, const ProblemData& data, const CopyFn& copy,
                              const std::vector<int32_t>& q_offsets, const std::vector<int32_t>& kv_lens,
                              const std::vector<int32_t>& page_table, const float* out, const float* lse,
                              double max_flops, CheckResult* r) {
  if (d.batch == 0) return Status::Ok();
  const int32_t b = int32_t(std::min_element(kv_lens.begin(), kv_lens.end()) - kv_lens.begin());
  RequestRef ref;
  ref.q_offset = q_offsets[size_t(b)];
  ref.q_len = q_offsets[size_t(b) + 1] - ref.q_offset;
  ref.kv_len = kv_lens[size_t(b)];
  ref.pages = page_table.data() + size_t(b) * size_t(d.max_pages);
  ref.heads = std::min(d.num_heads, 16);
  double pairs = 0;
  for (int32_t i = 0; i < ref.q_len; ++i) {
    const KeyRange k = visible_keys(d.mask, d.window, d.chunk, ref.kv_len, ref.q_len, i);
    pairs += double(k.end - k.begin);
  }
  const double cost = 2.0 * ref.heads * pairs * (MLA_DIM_QK + MLA_DIM_V);
  char buf[256];
  if (max_flops <= 0 || cost > max_flops) {
    std::snprintf(buf, sizeof buf, "ref skipped (%.2g flop > %.2g)", cost, max_flops);
    append(r, buf, true);
    return Status::Ok();
  }
  OwnedProblem one;
  MLA_RETURN_IF_ERROR(extract_request(d, data, ref, copy, &one));
  std::vector<float> out_rows, lse_rows, ref_out(size_t(out_count(one.desc))), ref_lse(size_t(lse_count(one.desc)));
  slice_outputs(d, ref, out, lse, &out_rows, &lse_rows);
  MLA_RETURN_IF_ERROR(reference_decode(one.desc, one.data(), ref_out.data(), ref_lse.data()));
  const Agreement a = compare_to_reference(one.desc, out_rows.data(), lse_rows.data(), ref_out.data(), ref_lse.data());
  std::snprintf(buf, sizeof buf, "ref b%d h0-%d: max err/tol %.3f%s%.160s", b, ref.heads - 1, a.max_err_over_tol,
                a.ok() ? "" : ", FAIL at ", a.ok() ? "" : a.first_bad.c_str());
  append(r, buf, a.ok());
  return Status::Ok();
}

}  // namespace mla::tools::bench
