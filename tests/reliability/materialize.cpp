// Rows of the validation table with buffers that match their description.
#include "materialize.h"

#include <vector>

namespace rel {

namespace {

// `need` elements: the row's own (when its pointer still points at them),
// then, for data, the same elements over again (cyclic), for metadata `fill`.
template <class T>
bool extend(const void* ptr, const std::vector<T>& own, int64_t need, T fill, bool cyclic, std::vector<T>* out) {
  out->clear();
  if (need < 0) return false;
  if (need == 0) return true;
  if (ptr == nullptr) return false;
  const bool have = ptr == own.data() && !own.empty();
  out->resize(size_t(need));
  for (int64_t i = 0; i < need; ++i) {
    const bool mine = have && (cyclic || size_t(i) < own.size());
    (*out)[size_t(i)] = mine ? own[size_t(i) % own.size()] : fill;
  }
  return true;
}

}  // namespace

bool materialize(const mla::test::validation::Fixture& f, mla::test::HostProblem* out) {
  const mla::ProblemDesc& d = f.d;
  const int qf = int(d.q_format), kf = int(d.kv_format);
  if (qf < 0 || qf > 1 || kf < 0 || kf > 1 || d.batch < 0 || d.total_q < 0 || d.num_heads < 0 || d.page_size < 0 ||
      d.num_pages < 0 || d.max_pages < 0)
    return false;
  const int64_t bytes = mla::q_elems_bytes(d) + mla::kv_pool_bytes(d) +
                        4 * (mla::q_scales_count(d) + mla::kv_scales_count(d) + mla::page_table_count(d) + 2 * d.batch);
  if (bytes > kMaterializeLimitBytes) return false;

  mla::test::HostProblem& m = *out;
  const mla::test::HostProblem& h = f.hp;
  m = mla::test::HostProblem();
  m.desc = d;
  // Data for rows that had none: bytes 0x38 (1.0 in E4M3, 0.69 in BF16 as
  // 0x3838), unit scales.
  const int32_t last_offset = h.q_offsets.empty() ? 0 : h.q_offsets.back();
  return extend<uint8_t>(f.p.q, h.q, mla::q_elems_bytes(d), 0x38, true, &m.q) &&
         extend<float>(f.p.q_scales, h.q_scales, mla::q_scales_count(d), 1.f, true, &m.q_scales) &&
         extend<uint8_t>(f.p.kv_pool, h.kv_pool, mla::kv_pool_bytes(d), 0x38, true, &m.kv_pool) &&
         extend<float>(f.p.kv_scales, h.kv_scales, mla::kv_scales_count(d), 1.f, true, &m.kv_scales) &&
         extend<int32_t>(f.p.page_table, h.page_table, mla::page_table_count(d), 0x7fffffff, false, &m.page_table) &&
         extend<int32_t>(f.p.q_offsets, h.q_offsets, int64_t(d.batch) + 1, last_offset, false, &m.q_offsets) &&
         extend<int32_t>(f.p.kv_lens, h.kv_lens, d.batch, 0, false, &m.kv_lens);
}

}  // namespace rel
