// The host model of the device-side metadata checks (device_model.h).
#include "device_model.h"

#include <doctest/doctest.h>

#include <climits>
#include <cmath>
#include <sstream>

#include "mla/constants.h"
#include "mla/reference.h"

namespace rel {

using mla::test::HostProblem;

std::vector<RequestOutcome> device_model(const mla::ProblemDesc& d, const int32_t* q_offsets,
                                         const int32_t* kv_lens, const int32_t* page_table) {
  std::vector<RequestOutcome> out(size_t(d.batch > 0 ? d.batch : 0));
  const int64_t cap = int64_t(d.max_pages) * d.page_size;
  int64_t prev_max = INT64_MIN;  // max of q_offsets[0 .. b-1]
  for (int32_t b = 0; b < d.batch; ++b) {
    RequestOutcome& o = out[size_t(b)];
    const int64_t o0 = q_offsets[b], o1 = q_offsets[b + 1], kv = kv_lens[b];
    if (kv < 0 || kv > cap) {
      o.bits = MLA_STATUS_BAD_KV_LEN;
    } else {
      const int64_t pages = (kv + d.page_size - 1) / d.page_size;
      for (int64_t j = 0; j < pages; ++j) {
        const int32_t id = page_table[int64_t(b) * d.max_pages + j];
        if (id < 0 || id >= d.num_pages) o.bits = MLA_STATUS_BAD_PAGE_ID;
      }
    }
    const bool start_ok = b == 0 ? o0 == 0 : o0 >= prev_max;
    o.owns_rows = start_ok && o0 >= 0 && o1 >= o0 && o1 <= d.total_q;
    const bool last = b + 1 == d.batch;
    if (!o.owns_rows || o1 - o0 > MLA_MAX_Q_LEN || (last && o1 != d.total_q)) o.bits |= MLA_STATUS_BAD_Q_OFFSETS;
    if (o.bits == 0 && d.mask != mla::MaskKind::none && o1 - o0 > kv) o.bits |= MLA_STATUS_BAD_Q_LEN_CAUSAL;
    if (o.owns_rows) o.q_begin = int32_t(o0), o.q_len = int32_t(o1 - o0);
    if (o0 > prev_max) prev_max = o0;
  }
  return out;
}

mla::test::Reference reference_of_request(const HostProblem& p, int32_t b) {
  const mla::ProblemDesc& pd = p.desc;
  const int32_t q0 = p.q_offsets[size_t(b)], q_len = p.q_offsets[size_t(b) + 1] - q0;
  mla::ProblemDesc d = pd;
  d.batch = 1;
  d.total_q = q_len;
  const int32_t offsets[2] = {0, q_len};
  mla::ProblemData data = p.data();
  data.q = p.q.data() + int64_t(q0) * pd.num_heads * mla::row_bytes(pd.q_format);
  if (data.q_scales) data.q_scales += q0;
  data.page_table += int64_t(b) * pd.max_pages;
  data.q_offsets = offsets;
  data.kv_lens += b;
  mla::test::Reference r;
  r.out.assign(size_t(mla::out_count(d)), 0.f);
  r.lse.assign(size_t(mla::lse_count(d)), 0.f);
  const mla::Status st = mla::reference_decode(d, data, r.out.data(), r.lse.data());
  REQUIRE_MESSAGE(st.ok(), "reference of request " << b << ": " << st.to_string());
  return r;
}

ModelCheck check_against_model(const HostProblem& p, const Run& r, bool per_request) {
  ModelCheck c;
  auto fail = [&](const std::string& m) {
    c.ok = false;
    if (c.failure.empty()) c.failure = m;
  };
  const mla::ProblemDesc& d = p.desc;
  const int64_t H = d.num_heads;
  const auto model = device_model(d, p.q_offsets.data(), p.kv_lens.data(), p.page_table.data());
  uint32_t word = 0;
  std::vector<bool> owned(size_t(d.total_q), false);
  for (int32_t b = 0; b < d.batch; ++b) {
    const RequestOutcome& o = model[size_t(b)];
    word |= o.bits;
    if (per_request && r.request_status[size_t(b)] != o.bits) {
      std::ostringstream s;
      s << "request " << b << ": status bits " << r.request_status[size_t(b)] << ", expected " << o.bits;
      fail(s.str());
    }
    if (!o.owns_rows) {
      c.flagged += o.bits != 0;
      continue;
    }
    for (int32_t t = o.q_begin; t < o.q_begin + o.q_len; ++t) owned[size_t(t)] = true;
    const int64_t row0 = int64_t(o.q_begin) * H, nrows = int64_t(o.q_len) * H;
    if (o.bits != 0) {  // flagged rows: output 0, LSE NaN
      ++c.flagged;
      for (int64_t i = row0 * MLA_DIM_V; i < (row0 + nrows) * MLA_DIM_V; ++i)
        if (r.out[size_t(i)] != 0) fail("request " + std::to_string(b) + " is flagged but its output is not 0");
      for (int64_t i = row0; i < row0 + nrows; ++i)
        if (!std::isnan(r.lse[size_t(i)]) || mla::test::is_poison(r.lse[size_t(i)]))
          fail("request " + std::to_string(b) + " is flagged but its LSE is not a written NaN");
      continue;
    }
    ++c.computed;
    HostProblem one;  // only the description matters to compare()
    one.desc = d;
    one.desc.batch = 1;
    one.desc.total_q = o.q_len;
    const mla::test::CompareResult cr = mla::test::compare(one, r.out.data() + row0 * MLA_DIM_V, r.lse.data() + row0,
                                                           reference_of_request(p, b));
    if (!cr.ok) fail("request " + std::to_string(b) + " (not flagged): " + cr.first_failure);
  }
  if (r.status_word != word) {
    std::ostringstream s;
    s << "status word " << r.status_word << ", expected " << word;
    fail(s.str());
  }
  for (int64_t t = 0; t < d.total_q; ++t) {  // rows no request owns stay poisoned
    if (owned[size_t(t)]) continue;
    ++c.unowned_rows;
    const std::string token = "token " + std::to_string(t) + " is owned by no request but its ";
    for (int64_t i = t * H * MLA_DIM_V; i < (t + 1) * H * MLA_DIM_V; ++i)
      if (r.out[size_t(i)] != mla::test::kPoisonBf16) fail(token + "output was written");
    for (int64_t i = t * H; i < (t + 1) * H; ++i)
      if (!mla::test::is_poison(r.lse[size_t(i)])) fail(token + "LSE was written");
  }
  return c;
}

}  // namespace rel
