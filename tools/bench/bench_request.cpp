// One request as its own problem (bench_request.h).
#include "bench_request.h"

namespace mla::tools::bench {

Status extract_request(const ProblemDesc& d, const ProblemData& data, const RequestRef& r, const CopyFn& copy,
                       OwnedProblem* out) {
  OwnedProblem p;
  ProblemDesc& o = p.desc;
  o = d;
  o.batch = 1;
  o.num_heads = r.heads;
  o.total_q = r.q_len;
  const int32_t pages = (r.kv_len + d.page_size - 1) / d.page_size;
  o.num_pages = pages;
  o.max_pages = pages;
  o.num_splits = 0;
  o.batch_invariant = false;

  const size_t q_row = size_t(row_bytes(d.q_format)), kv_row = size_t(row_bytes(d.kv_format));
  const bool fp8_q = d.q_format == RowFormat::fp8_rope640, fp8_kv = d.kv_format == RowFormat::fp8_rope640;
  const char* q = static_cast<const char*>(data.q);
  p.q.resize(size_t(r.q_len) * size_t(r.heads) * q_row);
  for (int32_t t = 0; t < r.q_len; ++t)  // the first `heads` heads of each token are contiguous
    MLA_RETURN_IF_ERROR(copy(p.q.data() + size_t(t) * r.heads * q_row,
                             q + (size_t(r.q_offset + t) * size_t(d.num_heads)) * q_row, size_t(r.heads) * q_row));
  if (fp8_q) {
    p.q_scales.resize(size_t(r.q_len));
    MLA_RETURN_IF_ERROR(copy(p.q_scales.data(), data.q_scales + r.q_offset, size_t(r.q_len) * 4));
  }
  const size_t page_rows = size_t(d.page_size);
  const char* pool = static_cast<const char*>(data.kv_pool);
  p.kv_pool.resize(size_t(pages) * page_rows * kv_row);
  if (fp8_kv) p.kv_scales.resize(size_t(pages) * page_rows);
  for (int32_t j = 0; j < pages; ++j) {
    const size_t id = size_t(r.pages[j]);
    MLA_RETURN_IF_ERROR(copy(p.kv_pool.data() + size_t(j) * page_rows * kv_row, pool + id * page_rows * kv_row,
                             page_rows * kv_row));
    if (fp8_kv)
      MLA_RETURN_IF_ERROR(copy(p.kv_scales.data() + size_t(j) * page_rows, data.kv_scales + id * page_rows,
                               page_rows * 4));
  }
  p.page_table.resize(size_t(pages));
  for (int32_t j = 0; j < pages; ++j) p.page_table[size_t(j)] = j;
  p.q_offsets = {0, r.q_len};
  p.kv_lens = {r.kv_len};
  *out = std::move(p);
  return Status::Ok();
}

void slice_outputs(const ProblemDesc& d, const RequestRef& r, const float* out, const float* lse,
                   std::vector<float>* out_rows, std::vector<float>* lse_rows) {
  out_rows->clear();
  lse_rows->clear();
  for (int32_t t = 0; t < r.q_len; ++t)
    for (int32_t h = 0; h < r.heads; ++h) {
      const size_t row = size_t(r.q_offset + t) * size_t(d.num_heads) + size_t(h);
      out_rows->insert(out_rows->end(), out + row * MLA_DIM_V, out + (row + 1) * MLA_DIM_V);
      lse_rows->push_back(lse[row]);
    }
}

}  // namespace mla::tools::bench
