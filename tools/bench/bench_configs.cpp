// The named sweeps of `mla bench` (bench_configs.h). The shapes and targets
// are those of issue 5 (Hopper speed), issue 6 (FP8) and issue 3 (Vulkan).
#include "bench_configs.h"

#include <cstdio>
#include <numeric>

namespace mla::tools::bench {
namespace {

const char* short_format(RowFormat f) { return f == RowFormat::bf16 ? "bf16" : "fp8"; }

BenchConfig make(int32_t batch, int32_t heads, int32_t q_len, int32_t kv_len, int32_t page = 64,
                 RowFormat qf = RowFormat::bf16, RowFormat kvf = RowFormat::bf16) {
  BenchConfig c;
  c.batch = batch;
  c.num_heads = heads;
  c.q_len = q_len;
  c.kv_lens.assign(size_t(batch), kv_len);
  c.page_size = page;
  c.q_format = qf;
  c.kv_format = kvf;
  c.name = default_name(c);
  return c;
}

BenchConfig with_copy(BenchConfig c, double pct) { return c.min_pct_copy = pct, c; }
BenchConfig with_gemm(BenchConfig c, double pct) { return c.min_pct_gemm = pct, c; }
BenchConfig relative(BenchConfig c, const BenchConfig& base, double max_ratio) {
  c.baseline = base.name;
  c.max_ratio = max_ratio;
  return c;
}

// Issue 5: B=128, kv_len=4096, page 64; q_len 1 with H = 16..128, q_len 2
// (causal) with the same heads. The memory-bound ones must reach 97% of the
// copy bandwidth, the compute-bound ones 85% of the GEMM rate.
void core(std::vector<BenchConfig>* v) {
  for (int32_t q : {1, 2})
    for (int32_t h : {16, 32, 64, 128}) {
      const BenchConfig c = make(128, h, q, 4096);
      const bool compute = h * q >= 128;
      v->push_back(compute ? with_gemm(c, 85) : with_copy(c, 97));
    }
  v->push_back(with_gemm(make(32, 128, 1, 8192), 85));
  v->push_back(with_copy(make(1, 16, 1, 65536), 60));
}

// One long request among short ones, against the same keys spread evenly
// (q_len 4, causal, H=16): at most 0.8 of the even batch's time.
void uneven(std::vector<BenchConfig>* v) {
  const std::vector<int32_t> lens = {4641, 45118, 1730, 1696};
  const int64_t total = std::accumulate(lens.begin(), lens.end(), int64_t(0));
  BenchConfig even = make(4, 16, 4, 1);
  for (size_t b = 0; b < lens.size(); ++b)  // the remainder goes to the first requests
    even.kv_lens[b] = int32_t(total / 4 + (int64_t(b) < total % 4 ? 1 : 0));
  even.name = "even_b4_h16_q4";
  BenchConfig odd = even;
  odd.kv_lens = lens;
  odd.name = "uneven_b4_h16_q4";
  v->push_back(even);
  v->push_back(relative(odd, even, 0.8));
}

// Page sizes at H=16 (B=128, kv 4096, q_len 1) against page 64: 16..256
// within 5%, 1 within 30%.
void pages(std::vector<BenchConfig>* v, bool with_base) {
  const BenchConfig base = with_copy(make(128, 16, 1, 4096), 97);
  if (with_base) v->push_back(base);
  for (int32_t p : {1, 16, 32, 128, 256}) v->push_back(relative(make(128, 16, 1, 4096, p), base, p == 1 ? 1.30 : 1.05));
}

// Head counts that are not multiples of 16 against the next multiple above
// them: no slower.
void heads(std::vector<BenchConfig>* v, bool with_base) {
  const BenchConfig h16 = with_copy(make(128, 16, 1, 4096), 97), h32 = with_copy(make(128, 32, 1, 4096), 97);
  if (with_base) v->push_back(h16), v->push_back(h32);
  v->push_back(relative(make(128, 8, 1, 4096), h16, 1.0));
  v->push_back(relative(make(128, 20, 1, 4096), h32, 1.0));
  v->push_back(relative(make(128, 24, 1, 4096), h32, 1.0));
}

// Issue 6: (fp8, fp8) and (bf16, fp8) against BF16 at three shapes.
void fp8(std::vector<BenchConfig>* v, bool with_base) {
  struct Shape { int32_t b, h, q, kv; double pct_copy, ratio; };
  // Issue 6's three shapes (with its targets), then H64 / H128 q1 (no
  // target: the M = 64 kernels' other compute-bound points, tracked since the
  // register-V kernel, 2026-11-28).
  const Shape shapes[] = {{128, 16, 1, 4096, 85, 0.6}, {128, 128, 2, 4096, 0, 1 / 1.5}, {1, 16, 1, 131072, 80, 0},
                          {128, 64, 1, 4096, 0, 0},     {128, 128, 1, 4096, 0, 0}};
  for (const Shape& s : shapes) {
    const BenchConfig base = make(s.b, s.h, s.q, s.kv);
    if (with_base || s.kv == 131072) v->push_back(base);
    for (RowFormat qf : {RowFormat::fp8_rope640, RowFormat::bf16}) {
      BenchConfig c = make(s.b, s.h, s.q, s.kv, 64, qf, RowFormat::fp8_rope640);
      c.baseline = base.name;
      c.max_ratio = s.ratio;
      c.min_pct_copy = s.pct_copy;
      v->push_back(c);
    }
  }
}

// Quick shapes over every format pair, page sizes and masks; small enough to
// be checked against the float64 reference.
void smoke(std::vector<BenchConfig>* v) {
  v->push_back(make(4, 16, 1, 300));
  BenchConfig mix = make(3, 20, 2, 1, 16, RowFormat::fp8_rope640, RowFormat::fp8_rope640);
  mix.kv_lens = {100, 1000, 257};
  mix.name = default_name(mix);
  v->push_back(mix);
  v->push_back(make(2, 128, 1, 2048, 1, RowFormat::bf16, RowFormat::fp8_rope640));
  v->push_back(make(8, 64, 4, 1024, 32));
  BenchConfig none = make(2, 16, 3, 5000, 256);
  none.mask = MaskKind::none;
  none.name = default_name(none);
  v->push_back(none);
}

// Issue 3 (Vulkan): B=128, kv 4096, q_len 1, BF16, H=16 (>= 50% of the copy
// bandwidth) and H=128.
void issue3(std::vector<BenchConfig>* v) {
  v->push_back(with_copy(make(128, 16, 1, 4096), 50));
  v->push_back(make(128, 128, 1, 4096));
}

}  // namespace

std::string default_name(const BenchConfig& c) {
  std::string kv = uniform_kv(c) && !c.kv_lens.empty() ? std::to_string(c.kv_lens[0]) : "mix";
  std::string n = "b" + std::to_string(c.batch) + "_kv" + kv + "_h" + std::to_string(c.num_heads) + "_q" +
                  std::to_string(c.q_len) + "_p" + std::to_string(c.page_size);
  if (c.q_format != RowFormat::bf16 || c.kv_format != RowFormat::bf16)
    n += std::string("_") + short_format(c.q_format) + short_format(c.kv_format);
  if (c.mask != MaskKind::causal) n += std::string("_") + to_string(c.mask);
  return n;
}

void use_sequential_pages(BenchConfig* c) {
  if (c->sequential_pages) return;
  c->sequential_pages = true;
  c->name += "_seq";
  if (!c->baseline.empty()) c->baseline += "_seq";
}

bool uniform_kv(const BenchConfig& c) {
  for (int32_t k : c.kv_lens)
    if (k != c.kv_lens[0]) return false;
  return true;
}

std::string target_text(const BenchConfig& c) {
  std::string t;
  char buf[64];
  auto add = [&](const char* fmt, double x) {
    std::snprintf(buf, sizeof buf, fmt, x);
    t += (t.empty() ? "" : ", ") + std::string(buf);
  };
  if (c.min_pct_copy > 0) add("copy>=%.0f%%", c.min_pct_copy);
  if (c.min_pct_gemm > 0) add("gemm>=%.0f%%", c.min_pct_gemm);
  if (c.max_ratio > 0) add("ratio<=%.2f", c.max_ratio);
  return t;
}

std::vector<std::string> sweep_names() { return {"smoke", "issue5", "pages", "heads", "uneven", "fp8", "issue3", "all"}; }

Status named_sweep(const std::string& name, std::vector<BenchConfig>* out) {
  std::vector<BenchConfig> v;
  if (name == "smoke") {
    smoke(&v);
  } else if (name == "issue5") {
    core(&v);
    uneven(&v);
    pages(&v, false);  // the bases (H=16, H=32 at page 64) are in core()
    heads(&v, false);
  } else if (name == "pages") {
    pages(&v, true);
  } else if (name == "heads") {
    heads(&v, true);
  } else if (name == "uneven") {
    uneven(&v);
  } else if (name == "fp8") {
    fp8(&v, true);
  } else if (name == "issue3") {
    issue3(&v);
  } else if (name == "all") {
    core(&v);
    uneven(&v);
    pages(&v, false);
    heads(&v, false);
    fp8(&v, false);  // its BF16 bases at B=128 are in core()
  } else {
    std::string names;
    for (const std::string& n : sweep_names()) names += (names.empty() ? "" : ", ") + n;
    return invalid_argument("--sweep = '" + name + "' is not a sweep (" + names + ")");
  }
  *out = std::move(v);
  return Status::Ok();
}

}  // namespace mla::tools::bench
