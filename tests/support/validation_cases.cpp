// The validation table (tests/support/validation_cases.h).
#include "validation_cases.h"

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>

#include "mla/validate.h"

namespace mla::test::validation {

Fixture make(Base base) {
  ProblemSpec s;
  s.num_heads = 4;
  s.mask = MaskKind::causal;
  s.page_size = 16;
  s.q_lens = {2, 1, 3};
  s.kv_lens = {40, 1, 17};
  s.seed = 99;
  if (base == Base::fp8) s.q_format = s.kv_format = RowFormat::fp8_rope640;
  if (base == Base::fp8kv) s.kv_format = RowFormat::fp8_rope640;
  if (base == Base::q16) s.q_lens = {2, 16, 3}, s.kv_lens = {40, 20, 17};
  if (base == Base::noq) s.mask = MaskKind::none, s.q_lens = {0, 0, 0};
  if (base == Base::nokv) s.mask = MaskKind::none, s.q_lens = {1, 2, 0}, s.kv_lens = {0, 0, 0};
  Fixture f;
  f.hp = make_problem(s);
  f.d = f.hp.desc;
  f.p = f.hp.data();
  if (base == Base::nokv) {
    f.d.max_pages = f.d.num_pages = 0;
    f.p.page_table = nullptr;
    f.p.kv_pool = nullptr;
  }
  return f;
}

namespace {

const int32_t kRows = INT32_MAX;                 // 2^31 - 1 rows addressable on devices
const int32_t kPages16 = kRows / 16;             // num_pages / max_pages bound at page_size 16
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

std::vector<Row> make_rows() {
  using F = Fixture&;
  const Level D = Level::desc, Hst = Level::host;
  const Base b16 = Base::bf16;
  return {
      // batch in [0, 1048576]
      {"batch -1", b16, D, [](F f) { f.d.batch = -1; }, false, {"batch = -1", "[0, 1048576]"}},
      {"batch 0, every buffer null", b16, Hst,
       [](F f) { f.d.batch = 0, f.d.total_q = 0, f.p = ProblemData(), f.out = nullptr, f.lse = nullptr; }, true, {}},
      {"batch 1048576", b16, D, [](F f) { f.d.batch = 1 << 20; }, true, {}},
      {"batch 1048577", b16, D, [](F f) { f.d.batch = (1 << 20) + 1; }, false, {"batch = 1048577", "[0, 1048576]"}},
      // num_heads in [1, 128]
      {"num_heads 0", b16, D, [](F f) { f.d.num_heads = 0; }, false, {"num_heads = 0", "[1, 128]"}},
      {"num_heads 1", b16, Hst, [](F f) { f.d.num_heads = 1; }, true, {}},
      {"num_heads 128", b16, D, [](F f) { f.d.num_heads = 128; }, true, {}},
      {"num_heads 129", b16, D, [](F f) { f.d.num_heads = 129; }, false, {"num_heads = 129", "[1, 128]"}},
      // total_q in [0, batch * 16]
      {"total_q -1", b16, D, [](F f) { f.d.total_q = -1; }, false, {"total_q = -1", "[0, 48]"}},
      {"total_q 48", b16, D, [](F f) { f.d.total_q = 48; }, true, {}},
      {"total_q 49", b16, D, [](F f) { f.d.total_q = 49; }, false, {"total_q = 49", "[0, 48]"}},
      // formats and pairs
      {"q_format 2", b16, D, [](F f) { f.d.q_format = RowFormat(2); }, false, {"q_format = 2", "0 = bf16", "1 = fp8_rope640"}},
      {"q_format -1", b16, D, [](F f) { f.d.q_format = RowFormat(-1); }, false, {"q_format = -1"}},
      {"kv_format 2", b16, D, [](F f) { f.d.kv_format = RowFormat(2); }, false, {"kv_format = 2"}},
      {"pair (fp8, bf16)", b16, D, [](F f) { f.d.q_format = RowFormat::fp8_rope640; }, false,
       {"(q_format, kv_format) = (fp8_rope640, bf16)", "(bf16, fp8_rope640)", "(fp8_rope640, fp8_rope640)"}},
      {"pair (bf16, fp8)", Base::fp8kv, Hst, [](F) {}, true, {}},
      {"pair (fp8, fp8)", Base::fp8, Hst, [](F) {}, true, {}},
      // mask in [0, 3]
      {"mask 4", b16, D, [](F f) { f.d.mask = MaskKind(4); }, false, {"mask = 4", "chunked"}},
      {"mask -1", b16, D, [](F f) { f.d.mask = MaskKind(-1); }, false, {"mask = -1"}},
      // window >= 1 with sliding_window, 0 otherwise
      {"window 0 with sliding_window", b16, D, [](F f) { f.d.mask = MaskKind::sliding_window; }, false,
       {"window = 0", ">= 1", "sliding_window"}},
      {"window -5 with sliding_window", b16, D, [](F f) { f.d.mask = MaskKind::sliding_window, f.d.window = -5; },
       false, {"window = -5", ">= 1"}},
      {"window 1", b16, Hst, [](F f) { f.d.mask = MaskKind::sliding_window, f.d.window = 1; }, true, {}},
      {"window INT32_MAX", b16, Hst, [](F f) { f.d.mask = MaskKind::sliding_window, f.d.window = INT32_MAX; }, true, {}},
      {"window with causal", b16, D, [](F f) { f.d.window = 1; }, false, {"window = 1", "mask is causal", "sliding_window only"}},
      {"window with none", b16, D, [](F f) { f.d.mask = MaskKind::none, f.d.window = -1; }, false, {"window = -1", "mask is none"}},
      // chunk >= 1 with chunked, 0 otherwise
      {"chunk 0 with chunked", b16, D, [](F f) { f.d.mask = MaskKind::chunked; }, false, {"chunk = 0", ">= 1", "chunked"}},
      {"chunk 1", b16, Hst, [](F f) { f.d.mask = MaskKind::chunked, f.d.chunk = 1; }, true, {}},
      {"chunk INT32_MAX", b16, Hst, [](F f) { f.d.mask = MaskKind::chunked, f.d.chunk = INT32_MAX; }, true, {}},
      {"chunk with sliding_window", b16, D,
       [](F f) { f.d.mask = MaskKind::sliding_window, f.d.window = 4, f.d.chunk = 8; }, false,
       {"chunk = 8", "mask is sliding_window", "chunked only"}},
      // softmax_scale finite
      {"softmax_scale NaN", b16, D, [](F f) { f.d.softmax_scale = kNaN; }, false, {"softmax_scale = nan", "finite"}},
      {"softmax_scale +inf", b16, D, [](F f) { f.d.softmax_scale = kInf; }, false, {"softmax_scale = inf", "finite"}},
      {"softmax_scale -inf", b16, D, [](F f) { f.d.softmax_scale = -kInf; }, false, {"softmax_scale = -inf", "finite"}},
      {"softmax_scale FLT_MAX", b16, D, [](F f) { f.d.softmax_scale = FLT_MAX; }, true, {}},
      {"softmax_scale 0", b16, Hst, [](F f) { f.d.softmax_scale = 0.f; }, true, {}},
      {"softmax_scale -1e-45", b16, Hst, [](F f) { f.d.softmax_scale = -1e-45f; }, true, {}},
      // page_size a power of two in [1, 512]
      {"page_size 0", b16, D, [](F f) { f.d.page_size = 0; }, false, {"page_size = 0", "power of two", "[1, 512]"}},
      {"page_size -16", b16, D, [](F f) { f.d.page_size = -16; }, false, {"page_size = -16", "[1, 512]"}},
      {"page_size 1", b16, D, [](F f) { f.d.page_size = 1; }, true, {}},
      {"page_size 3", b16, D, [](F f) { f.d.page_size = 3; }, false, {"page_size = 3", "power of two"}},
      {"page_size 48", b16, D, [](F f) { f.d.page_size = 48; }, false, {"page_size = 48", "power of two"}},
      {"page_size 512", b16, D, [](F f) { f.d.page_size = 512; }, true, {}},
      {"page_size 1024", b16, D, [](F f) { f.d.page_size = 1024; }, false, {"page_size = 1024", "[1, 512]"}},
      // num_pages, max_pages in [0, (2^31 - 1) / page_size]
      {"num_pages -1", b16, D, [](F f) { f.d.num_pages = -1; }, false, {"num_pages = -1", "[0, 134217727]"}},
      {"num_pages max", b16, D, [](F f) { f.d.num_pages = kPages16; }, true, {}},
      {"num_pages max+1", b16, D, [](F f) { f.d.num_pages = kPages16 + 1; }, false,
       {"num_pages = 134217728", "[0, 134217727]"}},
      {"max_pages -1", b16, D, [](F f) { f.d.max_pages = -1; }, false, {"max_pages = -1", "[0, 134217727]"}},
      {"max_pages max", b16, D, [](F f) { f.d.max_pages = kPages16; }, true, {}},
      {"max_pages max+1", b16, D, [](F f) { f.d.max_pages = kPages16 + 1; }, false,
       {"max_pages = 134217728", "[0, 134217727]"}},
      // batch * max_pages <= 2^31 - 1 page-table entries
      {"batch * max_pages = 2^31 - 2^20", b16, D, [](F f) { f.d.batch = 1 << 20, f.d.max_pages = 2047; }, true, {}},
      {"batch * max_pages = 2^31", b16, D, [](F f) { f.d.batch = 1 << 20, f.d.max_pages = 2048; }, false,
       {"batch * max_pages = 2147483648", "2147483647"}},
      // num_splits in [0, 64]
      {"num_splits -1", b16, D, [](F f) { f.d.num_splits = -1; }, false, {"num_splits = -1", "[0, 64]"}},
      {"num_splits 0", b16, Hst, [](F f) { f.d.num_splits = 0; }, true, {}},
      {"num_splits 64", b16, Hst, [](F f) { f.d.num_splits = 64; }, true, {}},
      {"num_splits 65", b16, D, [](F f) { f.d.num_splits = 65; }, false, {"num_splits = 65", "[0, 64]"}},
      // total_q * num_heads <= 2^31 - 1 rows
      {"total_q * num_heads = 2^31 - 2^24", b16, D,
       [](F f) { f.d.batch = 1 << 20, f.d.total_q = 1 << 24, f.d.num_heads = 127; }, true, {}},
      {"total_q * num_heads = 2^31", b16, D,
       [](F f) { f.d.batch = 1 << 20, f.d.total_q = 1 << 24, f.d.num_heads = 128; }, false,
       {"total_q * num_heads = 2147483648", "2147483647"}},

      // Null buffers.
      {"q null", b16, Hst, [](F f) { f.p.q = nullptr; }, false, {"q = null", "bytes"}},
      {"q, out, lse null with total_q 0", Base::noq, Hst, [](F f) { f.p.q = nullptr, f.out = nullptr, f.lse = nullptr; },
       true, {}},
      {"q_scales null, fp8 Q", Base::fp8, Hst, [](F f) { f.p.q_scales = nullptr; }, false, {"q_scales = null", "fp8_rope640"}},
      {"q_scales null, bf16 Q", Base::fp8kv, Hst, [](F f) { f.p.q_scales = nullptr; }, true, {}},
      {"out null", b16, Hst, [](F f) { f.out = nullptr; }, false, {"out = null"}},
      {"lse null", b16, Hst, [](F f) { f.lse = nullptr; }, false, {"lse = null"}},
      {"q_offsets null", b16, Hst, [](F f) { f.p.q_offsets = nullptr; }, false, {"q_offsets = null", "batch = 3"}},
      {"kv_lens null", b16, Hst, [](F f) { f.p.kv_lens = nullptr; }, false, {"kv_lens = null", "batch = 3"}},
      {"page_table null", b16, Hst, [](F f) { f.p.page_table = nullptr; }, false, {"page_table = null", "max_pages = 4"}},
      {"page_table, kv_pool null without pages", Base::nokv, Hst, [](F) {}, true, {}},
      {"kv_pool null", b16, Hst, [](F f) { f.p.kv_pool = nullptr; }, false, {"kv_pool = null", "num_pages = 9"}},
      {"kv_scales null, fp8 KV", Base::fp8kv, Hst, [](F f) { f.p.kv_scales = nullptr; }, false,
       {"kv_scales = null", "fp8_rope640"}},
      {"kv_scales null, bf16 KV", b16, Hst, [](F f) { f.p.kv_scales = nullptr; }, true, {}},

      // Per-request metadata (q_offsets {0, 2, 3, 6}, kv_lens {40, 1, 17}, 16-token pages, max_pages 4).
      {"q_offsets[0] 1", b16, Hst, [](F f) { f.qo()[0] = 1; }, false, {"q_offsets[0] = 1", "must be 0"}},
      {"q_offsets equal neighbours", b16, Hst, [](F f) { f.qo()[2] = 2; }, true, {}},
      {"q_offsets decreasing", b16, Hst, [](F f) { f.qo()[2] = 1; }, false,
       {"q_offsets[2] = 1", "q_offsets[1] = 2", "non-decreasing"}},
      {"q_len 16", Base::q16, Hst, [](F) {}, true, {}},
      {"q_len 17", Base::q16, Hst, [](F f) { ++f.qo()[2], ++f.qo()[3], ++f.d.total_q; }, false,
       {"q_len of request 1 = 17", "exceeds 16"}},
      {"kv_len -1", Base::nokv, Hst, [](F f) { f.kv()[2] = -1; }, false, {"kv_lens[2] = -1", "[0, 0]"}},
      {"kv_len = max_pages * page_size", b16, Hst, [](F f) { f.kv()[0] = 64, f.pt(0, 3) = 8; }, true, {}},
      {"kv_len = max_pages * page_size + 1", b16, Hst, [](F f) { f.kv()[0] = 65, f.pt(0, 3) = 8; }, false,
       {"kv_lens[0] = 65", "[0, 64]", "max_pages * page_size"}},
      {"causal q_len == kv_len", b16, Hst, [](F f) { f.kv()[2] = 3; }, true, {}},
      {"causal q_len > kv_len", b16, Hst, [](F f) { f.kv()[2] = 2; }, false,
       {"q_len of request 2 = 3", "kv_lens[2] = 2", "causal"}},
      {"sliding_window q_len > kv_len", b16, Hst,
       [](F f) { f.d.mask = MaskKind::sliding_window, f.d.window = 9, f.kv()[2] = 2; }, false,
       {"q_len of request 2 = 3", "kv_lens[2] = 2", "sliding_window"}},
      {"chunked q_len > kv_len", b16, Hst, [](F f) { f.d.mask = MaskKind::chunked, f.d.chunk = 9, f.kv()[1] = 0; },
       false, {"q_len of request 1 = 1", "kv_lens[1] = 0", "chunked"}},
      {"none q_len > kv_len", b16, Hst, [](F f) { f.d.mask = MaskKind::none, f.kv()[2] = 2; }, true, {}},
      {"page id -1", b16, Hst, [](F f) { f.pt(0, 2) = -1; }, false, {"page_table[0][2] = -1", "[0, 8]", "num_pages = 9"}},
      {"page id num_pages - 1", b16, Hst, [](F f) { f.pt(0, 2) = 8; }, true, {}},
      {"page id num_pages", b16, Hst, [](F f) { f.pt(0, 2) = 9; }, false, {"page_table[0][2] = 9", "[0, 8]"}},
      {"page id beyond kv_len's pages ignored", b16, Hst, [](F f) { f.pt(0, 3) = -1, f.pt(1, 1) = 1 << 30; }, true, {}},
      {"q_offsets[B] < total_q", b16, Hst, [](F f) { f.d.total_q = 7; }, false, {"q_offsets[3] = 6", "total_q = 7"}},
      {"q_offsets[B] > total_q", b16, Hst, [](F f) { f.d.total_q = 5; }, false, {"q_offsets[3] = 6", "total_q = 5"}},

      // Extreme values: the most negative and most positive int32 of each
      // field, where sign, overflow and unsigned-conversion bugs hide.
      {"batch INT32_MIN", b16, D, [](F f) { f.d.batch = INT32_MIN; }, false, {"batch = -2147483648", "[0, 1048576]"}},
      {"num_heads INT32_MIN", b16, D, [](F f) { f.d.num_heads = INT32_MIN; }, false, {"num_heads = -2147483648", "[1, 128]"}},
      {"total_q INT32_MAX", b16, D, [](F f) { f.d.total_q = INT32_MAX; }, false, {"total_q = 2147483647", "[0, 48]"}},
      {"window INT32_MIN", b16, D, [](F f) { f.d.mask = MaskKind::sliding_window, f.d.window = INT32_MIN; }, false,
       {"window = -2147483648", ">= 1"}},
      {"chunk -1 with chunked", b16, D, [](F f) { f.d.mask = MaskKind::chunked, f.d.chunk = -1; }, false,
       {"chunk = -1", ">= 1"}},
      {"page_size INT32_MIN", b16, D, [](F f) { f.d.page_size = INT32_MIN; }, false,
       {"page_size = -2147483648", "power of two", "[1, 512]"}},
      {"page_size INT32_MAX", b16, D, [](F f) { f.d.page_size = INT32_MAX; }, false, {"page_size = 2147483647", "[1, 512]"}},
      {"num_pages INT32_MIN", b16, D, [](F f) { f.d.num_pages = INT32_MIN; }, false, {"num_pages = -2147483648"}},
      {"max_pages INT32_MAX", b16, D, [](F f) { f.d.max_pages = INT32_MAX; }, false, {"max_pages = 2147483647"}},
      {"num_splits INT32_MAX", b16, D, [](F f) { f.d.num_splits = INT32_MAX; }, false, {"num_splits = 2147483647", "[0, 64]"}},
      {"q_offsets[1] INT32_MAX", b16, Hst, [](F f) { f.qo()[1] = INT32_MAX; }, false,
       {"q_len of request 0 = 2147483647", "exceeds 16"}},
      {"q_offsets[1] INT32_MIN", b16, Hst, [](F f) { f.qo()[1] = INT32_MIN; }, false,
       {"q_offsets[1] = -2147483648", "non-decreasing"}},
      {"kv_len INT32_MAX", b16, Hst, [](F f) { f.kv()[1] = INT32_MAX; }, false, {"kv_lens[1] = 2147483647", "[0, 64]"}},
      {"kv_len INT32_MIN", b16, Hst, [](F f) { f.kv()[1] = INT32_MIN; }, false, {"kv_lens[1] = -2147483648", "[0, 64]"}},
      {"page id 0", b16, Hst, [](F f) { f.pt(2, 1) = 0; }, true, {}},
      {"page id INT32_MIN", b16, Hst, [](F f) { f.pt(2, 1) = INT32_MIN; }, false,
       {"page_table[2][1] = -2147483648", "[0, 8]"}},
      {"page id INT32_MAX", b16, Hst, [](F f) { f.pt(1, 0) = INT32_MAX; }, false, {"page_table[1][0] = 2147483647", "[0, 8]"}},
  };
}

}  // namespace

const std::vector<Row>& rows() {
  static const std::vector<Row> table = make_rows();
  return table;
}

Fixture make_row(const Row& r) {
  // Only null-ness of the outputs is validated; entry points substitute their own buffers.
  static const float marker[1] = {0.f};
  Fixture f = make(r.base);
  f.out = marker;
  f.lse = marker;
  r.mutate(f);
  return f;
}

const char* to_string(Stage s) {
  switch (s) {
    case Stage::none: return "valid";
    case Stage::desc: return "desc";
    case Stage::buffers: return "buffers";
    case Stage::metadata: return "metadata";
  }
  return "?";
}

Stage first_failure(const Row& r, const Fixture& f, Status* st) {
  *st = validate_desc(f.d);
  if (!st->ok()) return Stage::desc;
  if (r.level == Level::desc) return Stage::none;
  *st = validate_buffers(f.d, f.p, f.out, f.lse);
  if (!st->ok()) return Stage::buffers;
  *st = validate_metadata(f.d, f.p.q_offsets, f.p.kv_lens, f.p.page_table);
  return st->ok() ? Stage::none : Stage::metadata;
}

}  // namespace mla::test::validation
