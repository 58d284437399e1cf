// `mla demo`: the main job end to end. A realistic decode batch (ragged
// requests on a shuffled paged cache) runs on the best backend present, is
// checked against the float64 reference, and is timed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "args.h"
#include "backend.h"
#include "commands.h"
#include "compare.h"
#include "mla/mask.h"
#include "problem_io.h"
#include "synthetic.h"

namespace mla::tools {

namespace {

const char kUsage[] =
    "usage: mla demo [options]\n"
    "\n"
    "  --backend NAME     reference | cuda | vulkan (default: the best present,\n"
    "                     cuda, then vulkan, then reference)\n"
    "  --batch N          requests (default 32)\n"
    "  --heads N          query heads H, 1..128 (default 16)\n"
    "  --max-q-len N      q_len of each request is drawn from 1..N (default 2)\n"
    "  --max-kv-len N     kv_len of each request is drawn from 1..N (default 4096)\n"
    "  --page-size N      tokens per page, a power of two 1..512 (default 64)\n"
    "  --q-format F       bf16 | fp8_rope640 (default bf16)\n"
    "  --kv-format F      bf16 | fp8_rope640 (default bf16)\n"
    "  --mask M           none | causal | sliding_window | chunked (default causal)\n"
    "  --window W         sliding_window only (default 1024)\n"
    "  --chunk C          chunked only (default 1024)\n"
    "  --splits N         split-K partitions per request, 0 = automatic (default 0)\n"
    "  --batch-invariant  split each request as a function of its own kv_len only\n"
    "  --iters N          timed runs on the backend (default 20)\n"
    "  --seed N           random seed (default 1)\n"
    "  --save DIR         also write the batch as an `mla run` input directory\n";

// Bytes a decode must move at least once: the visible keys of every request
// (rows and scales), Q, and the BF16 output with its LSE.
double bytes_moved(const OwnedProblem& p) {
  const ProblemDesc& d = p.desc;
  double keys = 0;
  for (int32_t b = 0; b < d.batch; ++b) {
    const KeyRange r = request_keys(d.mask, d.window, d.chunk, p.kv_lens[size_t(b)],
                                    p.q_offsets[size_t(b) + 1] - p.q_offsets[size_t(b)]);
    keys += double(r.end - r.begin);
  }
  const double kv_row = double(row_bytes(d.kv_format)) + (d.kv_format == RowFormat::fp8_rope640 ? 4 : 0);
  return keys * kv_row + double(q_elems_bytes(d)) + double(lse_count(d)) * (MLA_DIM_V * 2 + 4);
}

Status parse_spec(const Args& a, SyntheticSpec* s) {
  int64_t v;
  MLA_RETURN_IF_ERROR(a.get_int("batch", 32, 0, MLA_MAX_BATCH, &v));
  s->batch = int32_t(v);
  MLA_RETURN_IF_ERROR(a.get_int("heads", 16, 1, MLA_MAX_HEADS, &v));
  s->num_heads = int32_t(v);
  MLA_RETURN_IF_ERROR(a.get_int("max-q-len", 2, 1, MLA_MAX_Q_LEN, &v));
  s->q_len_min = 1;
  s->q_len_max = int32_t(v);
  MLA_RETURN_IF_ERROR(a.get_int("max-kv-len", 4096, 1, 1 << 24, &v));
  s->kv_len_min = 1;
  s->kv_len_max = int32_t(v);
  MLA_RETURN_IF_ERROR(a.get_int("page-size", 64, 1, MLA_MAX_PAGE_SIZE, &v));
  s->page_size = int32_t(v);
  for (auto f : {std::make_pair("q-format", &s->q_format), std::make_pair("kv-format", &s->kv_format)}) {
    const std::string name = a.get(f.first, "bf16");
    if (!parse_row_format(name.c_str(), f.second))
      return invalid_argument(std::string("--") + f.first + " = '" + name + "' is not a row format (bf16, fp8_rope640)");
  }
  const std::string mask = a.get("mask", "causal");
  if (!parse_mask_kind(mask.c_str(), &s->mask))
    return invalid_argument("--mask = '" + mask + "' is not a mask (none, causal, sliding_window, chunked)");
  MLA_RETURN_IF_ERROR(a.get_int("window", 1024, 1, INT32_MAX, &v));
  s->window = s->mask == MaskKind::sliding_window ? int32_t(v) : 0;
  MLA_RETURN_IF_ERROR(a.get_int("chunk", 1024, 1, INT32_MAX, &v));
  s->chunk = s->mask == MaskKind::chunked ? int32_t(v) : 0;
  MLA_RETURN_IF_ERROR(a.get_int("splits", 0, 0, MLA_MAX_SPLITS, &v));
  s->num_splits = int32_t(v);
  s->batch_invariant = a.has("batch-invariant");
  MLA_RETURN_IF_ERROR(a.get_int("seed", 1, 0, INT64_MAX, &v));
  s->seed = uint64_t(v);
  return Status::Ok();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int cmd_demo(int argc, char** argv) {
  Args args;
  Status st = Args::parse(argc, argv,
                          {"backend", "batch", "heads", "max-q-len", "max-kv-len", "page-size", "q-format", "kv-format",
                           "mask", "window", "chunk", "splits", "iters", "seed", "save"},
                          {"batch-invariant", "help"}, &args);
  if (!st.ok()) return std::fputs(kUsage, stderr), report("demo", st, kExitUsage);
  if (args.has("help")) return std::fputs(kUsage, stdout), kExitOk;
  SyntheticSpec spec;
  st = parse_spec(args, &spec);
  int64_t iters;
  if (st.ok()) st = args.get_int("iters", 20, 1, 100000, &iters);
  Backend backend = best_backend();
  if (st.ok() && args.has("backend") && !parse_backend(args.get("backend"), &backend))
    st = invalid_argument("--backend = '" + args.get("backend") + "' is not a backend (reference, cuda, vulkan)");
  if (!st.ok()) return report("demo", st, kExitUsage);

  OwnedProblem p;
  st = make_synthetic(spec, &p);
  if (!st.ok()) return report("demo", st);
  const ProblemDesc& d = p.desc;
  if (args.has("save")) {
    st = save_problem(args.get("save"), p);
    if (!st.ok()) return report("demo", st);
  }
  int64_t keys = 0;
  int32_t kv_lo = INT32_MAX, kv_hi = 0;
  for (int32_t kv : p.kv_lens) keys += kv, kv_lo = std::min(kv_lo, kv), kv_hi = std::max(kv_hi, kv);
  std::printf("mla demo: MLA decode (Q.K over 576 = 512 latent + 64 rope, V = 512 latent)\n");
  std::printf("  batch      %d requests, H = %d, q_len 1..%d (total_q %d), kv_len %d..%d (%lld keys)\n", d.batch,
              d.num_heads, spec.q_len_max, d.total_q, d.batch ? kv_lo : 0, kv_hi, (long long)keys);
  std::printf("  cache      %d pages of %d tokens, shuffled, NaN in every free slot; Q %s, KV %s\n", d.num_pages,
              d.page_size, to_string(d.q_format), to_string(d.kv_format));
  std::printf("  mask       %s", to_string(d.mask));
  if (d.mask == MaskKind::sliding_window) std::printf(" (window %d)", d.window);
  if (d.mask == MaskKind::chunked) std::printf(" (chunk %d)", d.chunk);
  std::printf(", softmax_scale %.6g, splits %d%s\n", d.softmax_scale, d.num_splits,
              d.batch_invariant ? ", batch-invariant" : "");
  for (Backend b : {Backend::cuda, Backend::vulkan}) {
    const std::string why = unavailable_reason(b);
    if (!why.empty()) std::printf("  (%s: %s)\n", to_string(b), why.c_str());
  }

  // The oracle first.
  std::unique_ptr<Runner> ref_runner, runner;
  RunOutput ref, out;
  st = Runner::create(Backend::reference, &ref_runner);
  if (st.ok()) st = ref_runner->run(d, p.data(), &ref);
  if (!st.ok()) return report("demo", st);
  std::printf("  reference  %.1f ms (%s)\n", ref.wall_ms, ref_runner->device().c_str());
  if (backend == Backend::reference) {
    std::printf("  backend    reference only: no device backend is present here, so the result is the\n"
                "             oracle itself (build with CUDA or Vulkan to run and check a device)\n");
    return kExitOk;
  }

  st = Runner::create(backend, &runner);
  if (!st.ok()) return report("demo", st);
  // Run 0 warms up and is not timed. Without --iters the runs stop after
  // about 3 s, so that a slow device (lavapipe on a CPU) keeps the demo short.
  std::vector<double> kernel, wall;
  const bool bounded = !args.has("iters");
  double spent_ms = 0;
  for (int64_t i = 0; i <= iters && st.ok(); ++i) {
    st = runner->run(d, p.data(), &out);
    spent_ms += out.wall_ms;
    if (i == 0) continue;
    if (out.kernel_ms >= 0) kernel.push_back(out.kernel_ms);
    wall.push_back(out.wall_ms);
    if (bounded && spent_ms > 3000) break;
  }
  if (!st.ok()) return report("demo", st);
  const double t = kernel.empty() ? median(wall) : median(kernel);
  std::printf("  backend    %s (%s): median of %lld runs %.4g ms %s (%.4g ms wall with copies), %.3g GB/s moved\n",
              to_string(backend), runner->device().c_str(), (long long)wall.size(), t,
              kernel.empty() ? "wall" : "on the device", median(wall), bytes_moved(p) / (t * 1e6));

  const Tolerance tol;
  const Agreement a = compare_to_reference(d, out.out.data(), out.lse.data(), ref.out.data(), ref.lse.data(), tol);
  std::printf("  check      max |error| %.3g, max error / tolerance %.3f, max LSE error %.3g -> %s\n", a.max_abs_err,
              a.max_err_over_tol, a.max_lse_err, a.ok() && out.status_word == 0 ? "PASS" : "FAIL");
  std::printf("             (tolerance per element: |r|/256 + rms(row)/128; LSE: 1e-3 * max(1, |r|))\n");
  if (out.status_word != 0) std::printf("  status     device status word 0x%x (expected 0)\n", out.status_word);
  if (!a.ok()) std::printf("  first bad  %s (%lld elements outside the tolerance)\n", a.first_bad.c_str(), (long long)a.bad);
  return a.ok() && out.status_word == 0 ? kExitOk : kExitFailure;
}

}  // namespace mla::tools
