// Names, buffer sizes and the contiguous-cache convenience of mla/types.h.
#include "mla/types.h"

#include <cstdint>
#include <cstring>

#include "mla/status.h"

namespace mla {

const char* to_string(RowFormat f) {
  switch (f) {
    case RowFormat::bf16: return "bf16";
    case RowFormat::fp8_rope640: return "fp8_rope640";
  }
  return "?";
}

const char* to_string(MaskKind m) {
  switch (m) {
    case MaskKind::none: return "none";
    case MaskKind::causal: return "causal";
    case MaskKind::sliding_window: return "sliding_window";
    case MaskKind::chunked: return "chunked";
  }
  return "?";
}

bool parse_row_format(const char* s, RowFormat* out) {
  if (!std::strcmp(s, "bf16")) return *out = RowFormat::bf16, true;
  if (!std::strcmp(s, "fp8_rope640")) return *out = RowFormat::fp8_rope640, true;
  return false;
}

bool parse_mask_kind(const char* s, MaskKind* out) {
  if (!std::strcmp(s, "none")) return *out = MaskKind::none, true;
  if (!std::strcmp(s, "causal")) return *out = MaskKind::causal, true;
  if (!std::strcmp(s, "sliding_window")) return *out = MaskKind::sliding_window, true;
  if (!std::strcmp(s, "chunked")) return *out = MaskKind::chunked, true;
  return false;
}

const char* to_string(StatusCode c) {
  switch (c) {
    case StatusCode::ok: return "ok";
    case StatusCode::invalid_argument: return "invalid_argument";
    case StatusCode::unsupported: return "unsupported";
    case StatusCode::out_of_memory: return "out_of_memory";
    case StatusCode::device_error: return "device_error";
    case StatusCode::not_available: return "not_available";
    case StatusCode::io_error: return "io_error";
    case StatusCode::internal: return "internal";
  }
  return "?";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(mla::to_string(code_)) + ": " + message_;
}

int64_t q_elems_bytes(const ProblemDesc& d) {
  return int64_t(d.total_q) * d.num_heads * row_bytes(d.q_format);
}
int64_t kv_pool_bytes(const ProblemDesc& d) {
  return int64_t(d.num_pages) * d.page_size * row_bytes(d.kv_format);
}
int64_t kv_scales_count(const ProblemDesc& d) {
  return d.kv_format == RowFormat::fp8_rope640 ? int64_t(d.num_pages) * d.page_size : 0;
}
int64_t q_scales_count(const ProblemDesc& d) {
  return d.q_format == RowFormat::fp8_rope640 ? int64_t(d.total_q) : 0;
}
int64_t page_table_count(const ProblemDesc& d) { return int64_t(d.batch) * d.max_pages; }
int64_t out_count(const ProblemDesc& d) { return int64_t(d.total_q) * d.num_heads * MLA_DIM_V; }
int64_t lse_count(const ProblemDesc& d) { return int64_t(d.total_q) * d.num_heads; }

ContiguousLayout contiguous_layout(int32_t batch, int32_t slot_tokens, int32_t* page_table) {
  ContiguousLayout l;
  if (batch <= 0 || slot_tokens <= 0) return l;
  int32_t p = MLA_MAX_PAGE_SIZE;
  while (slot_tokens % p) p /= 2;
  // A pool of more than 2^31 - 1 pages cannot be described (num_pages is
  // int32): return the empty layout, whose page_size 0 validation rejects.
  const int64_t pages = int64_t(batch) * (slot_tokens / p);
  if (pages > INT32_MAX) return l;
  l.page_size = p;
  l.max_pages = slot_tokens / p;
  l.num_pages = int32_t(pages);
  if (page_table)
    for (int32_t b = 0; b < batch; ++b)
      for (int32_t j = 0; j < l.max_pages; ++j) page_table[int64_t(b) * l.max_pages + j] = b * l.max_pages + j;
  return l;
}

}  // namespace mla
