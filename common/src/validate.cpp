// The contract's rules, checked on the host. See mla/validate.h.
#include "mla/validate.h"

#include <cmath>
#include <cstdint>
#include <sstream>

namespace mla {

namespace {

constexpr int64_t kMaxRows = (int64_t(1) << 31) - 1;  // rows addressed by 32-bit indices on devices
constexpr int64_t kMaxBytes = int64_t(1) << 62;

template <class... Args>
Status fail(Args&&... args) {
  std::ostringstream s;
  (s << ... << args);
  return invalid_argument(s.str());
}

Status in_range(const char* field, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) return fail(field, " = ", v, " is out of range [", lo, ", ", hi, "]");
  return Status::Ok();
}

bool causal_family(MaskKind m) { return m != MaskKind::none; }

}  // namespace

Status validate_desc(const ProblemDesc& d) {
  MLA_RETURN_IF_ERROR(in_range("batch", d.batch, 0, MLA_MAX_BATCH));
  MLA_RETURN_IF_ERROR(in_range("num_heads", d.num_heads, 1, MLA_MAX_HEADS));
  MLA_RETURN_IF_ERROR(in_range("total_q", d.total_q, 0, int64_t(d.batch) * MLA_MAX_Q_LEN));

  const int qf = int(d.q_format), kf = int(d.kv_format);
  if (qf != MLA_FORMAT_BF16 && qf != MLA_FORMAT_FP8_ROPE640)
    return fail("q_format = ", qf, " is not a row format (0 = bf16, 1 = fp8_rope640)");
  if (kf != MLA_FORMAT_BF16 && kf != MLA_FORMAT_FP8_ROPE640)
    return fail("kv_format = ", kf, " is not a row format (0 = bf16, 1 = fp8_rope640)");
  if (d.q_format == RowFormat::fp8_rope640 && d.kv_format == RowFormat::bf16)
    return fail("(q_format, kv_format) = (fp8_rope640, bf16) is not a supported pair; supported: "
                "(bf16, bf16), (bf16, fp8_rope640), (fp8_rope640, fp8_rope640)");

  const int mk = int(d.mask);
  if (mk < MLA_MASK_NONE || mk > MLA_MASK_CHUNKED)
    return fail("mask = ", mk, " is not a mask (0 none, 1 causal, 2 sliding_window, 3 chunked)");
  if (d.mask == MaskKind::sliding_window) {
    if (d.window < 1) return fail("window = ", d.window, " must be >= 1 for mask sliding_window");
  } else if (d.window != 0) {
    return fail("window = ", d.window, " is set but mask is ", to_string(d.mask), " (window belongs to sliding_window only)");
  }
  if (d.mask == MaskKind::chunked) {
    if (d.chunk < 1) return fail("chunk = ", d.chunk, " must be >= 1 for mask chunked");
  } else if (d.chunk != 0) {
    return fail("chunk = ", d.chunk, " is set but mask is ", to_string(d.mask), " (chunk belongs to chunked only)");
  }

  if (!std::isfinite(d.softmax_scale)) return fail("softmax_scale = ", d.softmax_scale, " must be finite");

  if (d.page_size < MLA_MIN_PAGE_SIZE || d.page_size > MLA_MAX_PAGE_SIZE || (d.page_size & (d.page_size - 1)))
    return fail("page_size = ", d.page_size, " must be a power of two in [", MLA_MIN_PAGE_SIZE, ", ", MLA_MAX_PAGE_SIZE, "]");
  MLA_RETURN_IF_ERROR(in_range("num_pages", d.num_pages, 0, kMaxRows / d.page_size));
  MLA_RETURN_IF_ERROR(in_range("max_pages", d.max_pages, 0, kMaxRows / d.page_size));
  if (d.batch > 0 && int64_t(d.batch) * d.max_pages > kMaxRows)
    return fail("batch * max_pages = ", int64_t(d.batch) * d.max_pages, " exceeds ", kMaxRows, " page-table entries");
  MLA_RETURN_IF_ERROR(in_range("num_splits", d.num_splits, 0, MLA_MAX_SPLITS));

  // Sizes: int64 bytes, and 32-bit row indices for device code.
  const int64_t q_rows = int64_t(d.total_q) * d.num_heads;
  if (q_rows > kMaxRows) return fail("total_q * num_heads = ", q_rows, " exceeds ", kMaxRows, " rows");
  if (kv_pool_bytes(d) > kMaxBytes) return fail("kv pool size = ", kv_pool_bytes(d), " bytes exceeds ", kMaxBytes);
  return Status::Ok();
}

Status validate_buffers(const ProblemDesc& d, const ProblemData& p, const void* out, const float* lse) {
  if (d.batch == 0) return Status::Ok();
  if (d.total_q > 0) {
    if (!p.q) return fail("q = null (", q_elems_bytes(d), " bytes of Q are needed)");
    if (d.q_format == RowFormat::fp8_rope640 && !p.q_scales) return fail("q_scales = null but q_format is fp8_rope640");
    if (!out) return fail("out = null (", out_count(d), " BF16 values are written)");
    if (!lse) return fail("lse = null (", lse_count(d), " floats are written)");
  }
  if (!p.q_offsets) return fail("q_offsets = null (batch = ", d.batch, ")");
  if (!p.kv_lens) return fail("kv_lens = null (batch = ", d.batch, ")");
  if (d.max_pages > 0 && !p.page_table) return fail("page_table = null (max_pages = ", d.max_pages, ")");
  if (d.num_pages > 0 && !p.kv_pool) return fail("kv_pool = null (num_pages = ", d.num_pages, ")");
  if (d.num_pages > 0 && d.kv_format == RowFormat::fp8_rope640 && !p.kv_scales)
    return fail("kv_scales = null but kv_format is fp8_rope640");
  return Status::Ok();
}

Status validate_metadata(const ProblemDesc& d, const int32_t* q_offsets, const int32_t* kv_lens,
                         const int32_t* page_table) {
  if (d.batch == 0) return Status::Ok();
  if (q_offsets[0] != 0) return fail("q_offsets[0] = ", q_offsets[0], " must be 0");
  const int64_t cap = int64_t(d.max_pages) * d.page_size;
  for (int32_t b = 0; b < d.batch; ++b) {
    const int64_t q_len = int64_t(q_offsets[b + 1]) - q_offsets[b];
    if (q_len < 0)
      return fail("q_offsets[", b + 1, "] = ", q_offsets[b + 1], " is less than q_offsets[", b, "] = ", q_offsets[b],
                  " (q_offsets must be non-decreasing)");
    if (q_len > MLA_MAX_Q_LEN)
      return fail("q_len of request ", b, " = ", q_len, " (q_offsets[", b + 1, "] - q_offsets[", b, "]) exceeds ", MLA_MAX_Q_LEN);
    const int64_t kv = kv_lens[b];
    if (kv < 0 || kv > cap)
      return fail("kv_lens[", b, "] = ", kv, " is out of range [0, ", cap, "] (max_pages * page_size)");
    if (causal_family(d.mask) && q_len > kv)
      return fail("q_len of request ", b, " = ", q_len, " exceeds kv_lens[", b, "] = ", kv, " under mask ", to_string(d.mask));
    const int64_t pages = (kv + d.page_size - 1) / d.page_size;
    for (int64_t j = 0; j < pages; ++j) {
      const int32_t id = page_table[int64_t(b) * d.max_pages + j];
      if (id < 0 || id >= d.num_pages)
        return fail("page_table[", b, "][", j, "] = ", id, " is out of range [0, ", int64_t(d.num_pages) - 1, "] (num_pages = ", d.num_pages, ")");
    }
  }
  if (q_offsets[d.batch] != d.total_q)
    return fail("q_offsets[", d.batch, "] = ", q_offsets[d.batch], " must equal total_q = ", d.total_q);
  return Status::Ok();
}

Status validate_host_problem(const ProblemDesc& d, const ProblemData& p, const void* out, const float* lse) {
  MLA_RETURN_IF_ERROR(validate_desc(d));
  MLA_RETURN_IF_ERROR(validate_buffers(d, p, out, lse));
  return validate_metadata(d, p.q_offsets, p.kv_lens, p.page_table);
}

}  // namespace mla
