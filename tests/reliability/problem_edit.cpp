// Problem surgery for the reliability tables (problem_edit.h).
#include "problem_edit.h"

#include <cstring>

#include "mla/mask.h"

namespace rel {

using mla::test::HostProblem;

int64_t kv_slot(const HostProblem& p, int32_t b, int64_t t) {
  const mla::ProblemDesc& d = p.desc;
  const int64_t page = p.page_table[size_t(int64_t(b) * d.max_pages + t / d.page_size)];
  return page * d.page_size + t % d.page_size;
}

uint8_t* kv_row(HostProblem& p, int64_t slot) { return p.kv_pool.data() + slot * mla::row_bytes(p.desc.kv_format); }

uint8_t* q_row(HostProblem& p, int64_t token, int32_t head) {
  return p.q.data() + (token * p.desc.num_heads + head) * mla::row_bytes(p.desc.q_format);
}

void poke(mla::RowFormat f, uint8_t* row, int c, char kind, uint32_t salt) {
  if (f == mla::RowFormat::fp8_rope640 && c < MLA_DIM_CONTENT) {
    row[c] = (salt & 1) ? 0xFF : 0x7F;  // the two E4M3 NaN codes; kind must be 'n'
    return;
  }
  const int64_t at = f == mla::RowFormat::bf16 ? 2 * c : MLA_FP8_ROPE_BYTE_OFFSET + 2 * (c - MLA_DIM_CONTENT);
  // NaN: quiet, with a varying payload and sign. Not a signalling NaN: CPUs
  // pass a NaN's payload through and set its quiet bit, and 0xFFBF would come
  // out as 0xFFFF, the output poison (an "unwritten" element).
  uint16_t v = kind == '+' ? 0x7F80 : kind == '-' ? 0xFF80 : uint16_t(0x7FC1 + salt % 0x3E);
  if (kind == 'n' && (salt & 2)) v |= 0x8000;
  std::memcpy(row + at, &v, 2);
}

HostProblem subset(const HostProblem& p, const std::vector<int32_t>& which) {
  HostProblem s = p;
  const int64_t row = mla::row_bytes(p.desc.q_format) * p.desc.num_heads;
  s.desc.batch = int32_t(which.size());
  s.q.clear();
  s.q_scales.clear();
  s.page_table.clear();
  s.kv_lens.clear();
  s.q_offsets.assign(1, 0);
  for (int32_t b : which) {
    const int32_t q0 = p.q_offsets[size_t(b)], q1 = p.q_offsets[size_t(b) + 1];
    s.q.insert(s.q.end(), p.q.begin() + q0 * row, p.q.begin() + q1 * row);
    if (!p.q_scales.empty()) s.q_scales.insert(s.q_scales.end(), p.q_scales.begin() + q0, p.q_scales.begin() + q1);
    const auto pt = p.page_table.begin() + int64_t(b) * p.desc.max_pages;
    s.page_table.insert(s.page_table.end(), pt, pt + p.desc.max_pages);
    s.kv_lens.push_back(p.kv_lens[size_t(b)]);
    s.q_offsets.push_back(s.q_offsets.back() + (q1 - q0));
  }
  s.desc.total_q = s.q_offsets.back();
  return s;
}

std::vector<int64_t> rows_seeing_key(const HostProblem& p, int32_t b, int64_t t) {
  const mla::ProblemDesc& d = p.desc;
  const int64_t q0 = p.q_offsets[size_t(b)], q_len = p.q_offsets[size_t(b) + 1] - q0, kv = p.kv_lens[size_t(b)];
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < q_len; ++i) {
    const mla::KeyRange r = mla::visible_keys(d.mask, d.window, d.chunk, kv, q_len, i);
    if (t >= r.begin && t < r.end)
      for (int32_t h = 0; h < d.num_heads; ++h) rows.push_back((q0 + i) * d.num_heads + h);
  }
  return rows;
}

int32_t request_of_token(const HostProblem& p, int64_t token) {
  int32_t b = 0;
  while (p.q_offsets[size_t(b) + 1] <= token) ++b;
  return b;
}

bool token_sees_keys(const HostProblem& p, int64_t token) {
  const mla::ProblemDesc& d = p.desc;
  const int32_t b = request_of_token(p, token);
  const int64_t q0 = p.q_offsets[size_t(b)], q_len = p.q_offsets[size_t(b) + 1] - q0;
  const mla::KeyRange r = mla::visible_keys(d.mask, d.window, d.chunk, p.kv_lens[size_t(b)], q_len, token - q0);
  return r.end > r.begin;
}

}  // namespace rel
