// `mla bench`: times the decode on the CUDA or Vulkan backend over a named
// sweep or one configuration, next to the copy bandwidth and GEMM rate
// measured in the same process (issue 5). Progress on stderr, the table on
// stdout, one JSON object per result in --json FILE (see bench/README.md).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "args.h"
#include "backend.h"
#include "bench_configs.h"
#include "bench_report.h"
#include "bench_version.h"
#include "bench_vulkan_run.h"
#include "commands.h"
#ifdef MLA_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "bench_card.h"
#include "bench_cuda_check.h"
#include "bench_cuda_run.h"
#include "bench_limits.h"
#include "mla/cuda.h"
#endif

namespace mla::tools {

namespace {

using bench::BenchConfig;

const char kUsage[] =
    "usage: mla bench [--sweep NAME | one configuration] [options]\n"
    "\n"
    "What to run:\n"
    "  --sweep NAME       smoke | issue5 | pages | heads | uneven | fp8 | issue3 | all\n"
    "  --only A,B         run only these configs of the sweep (names as --list prints)\n"
    "  --list             print the configs and exit (no device needed)\n"
    "  or one configuration (defaults in brackets):\n"
    "  --batch N [128]  --heads N [16]  --q-len N [1]  --page-size N [64]\n"
    "  --kv-len N | N,N,...   one kv_len for all, or one per request [4096]\n"
    "  --q-format F, --kv-format F   bf16 | fp8_rope640 [bf16]\n"
    "  --mask M [causal]  --window W  --chunk C\n"
    "  --page-order O     shuffled | sequential [shuffled]: how the pages of each set are dealt\n"
    "                     (sequential: pool order, as FlashMLA's benchmark; applies to sweeps too)\n"
    "\n"
    "How:\n"
    "  --backend B        cuda | vulkan (default: cuda when a device is present, else vulkan)\n"
    "  --kernel K,...     CUDA kernels to compare: auto | portable | sm90 | portable_big |\n"
    "                     portable_small [auto]; auto is reported as the kernel it ran\n"
    "  --mode M,...       graph | eager | layer [graph,eager] (CUDA; Vulkan is always eager);\n"
    "                     layer: graph replay of decode() alone, the plan made once before (one\n"
    "                     run_planner per decode step serves every layer); no target is judged on it\n"
    "  --min-runs N [30] --max-runs N [2000] --target-ms MS [200]  timed runs per result\n"
    "  --warmup N [10]    untimed runs before each series (CUDA; Vulkan: 0.5 s of runs)\n"
    "  --l2-multiple X [4] rotation sets span at least X times the L2 size\n"
    "  --check-gflop X [2] reference-check one request when it costs <= X GFLOP (0: never)\n"
    "  --seed N [1]\n"
    "\n"
    "Output:\n"
    "  --json FILE        append one JSON object per result (JSON lines)\n"
    "  --commit S         the commit measured (default: $MLA_COMMIT, else the build's git describe)\n"
    "  --card-info S      stored verbatim with every result (e.g. an nvidia-smi query)\n";

Status parse_ints(const std::string& name, const std::string& s, std::vector<int32_t>* out) {
  std::stringstream ss(s);
  std::string item;
  out->clear();
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 0 || v > (1L << 30))
      return invalid_argument("--" + name + " = '" + s + "': '" + item + "' is not a length");
    out->push_back(int32_t(v));
  }
  if (out->empty()) return invalid_argument("--" + name + " is empty");
  return Status::Ok();
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(item);
  return v;
}

// One configuration from the options.
Status custom_config(const Args& a, BenchConfig* c) {
  int64_t v;
  MLA_RETURN_IF_ERROR(a.get_int("batch", 128, 1, MLA_MAX_BATCH, &v));
  c->batch = int32_t(v);
  MLA_RETURN_IF_ERROR(a.get_int("heads", 16, 1, MLA_MAX_HEADS, &v));
  c->num_heads = int32_t(v);
  MLA_RETURN_IF_ERROR(a.get_int("q-len", 1, 1, MLA_MAX_Q_LEN, &v));
  c->q_len = int32_t(v);
  MLA_RETURN_IF_ERROR(a.get_int("page-size", 64, MLA_MIN_PAGE_SIZE, MLA_MAX_PAGE_SIZE, &v));
  c->page_size = int32_t(v);
  std::vector<int32_t> kv;
  MLA_RETURN_IF_ERROR(parse_ints("kv-len", a.get("kv-len", "4096"), &kv));
  if (kv.size() == 1) kv.assign(size_t(c->batch), kv[0]);
  if (kv.size() != size_t(c->batch))
    return invalid_argument("--kv-len has " + std::to_string(kv.size()) + " values for --batch " +
                            std::to_string(c->batch) + " (give one, or one per request)");
  c->kv_lens = kv;
  for (auto f : {std::make_pair("q-format", &c->q_format), std::make_pair("kv-format", &c->kv_format)}) {
    const std::string name = a.get(f.first, "bf16");
    if (!parse_row_format(name.c_str(), f.second))
      return invalid_argument(std::string("--") + f.first + " = '" + name + "' is not a row format (bf16, fp8_rope640)");
  }
  const std::string mask = a.get("mask", "causal");
  if (!parse_mask_kind(mask.c_str(), &c->mask))
    return invalid_argument("--mask = '" + mask + "' is not a mask (none, causal, sliding_window, chunked)");
  MLA_RETURN_IF_ERROR(a.get_int("window", 1024, 1, INT32_MAX, &v));
  c->window = c->mask == MaskKind::sliding_window ? int32_t(v) : 0;
  MLA_RETURN_IF_ERROR(a.get_int("chunk", 1024, 1, INT32_MAX, &v));
  c->chunk = c->mask == MaskKind::chunked ? int32_t(v) : 0;
  c->name = bench::default_name(*c);
  return Status::Ok();
}

Status select_configs(const Args& a, std::string* sweep, std::vector<BenchConfig>* configs) {
  if (a.has("sweep")) {
    for (const char* o : {"batch", "heads", "q-len", "kv-len", "page-size", "q-format", "kv-format", "mask"})
      if (a.has(o)) return invalid_argument(std::string("--") + o + " describes one configuration; it cannot go with --sweep");
    *sweep = a.get("sweep");
    MLA_RETURN_IF_ERROR(bench::named_sweep(*sweep, configs));
  } else {
    *sweep = "custom";
    BenchConfig c;
    MLA_RETURN_IF_ERROR(custom_config(a, &c));
    configs->assign(1, c);
  }
  if (a.has("only")) {
    std::vector<BenchConfig> kept;
    for (const std::string& n : split(a.get("only"))) {
      bool found = false;
      for (const BenchConfig& c : *configs)
        if (c.name == n) kept.push_back(c), found = true;
      if (!found) return invalid_argument("--only: '" + n + "' is not a config of sweep " + *sweep + " (see --list)");
    }
    *configs = kept;
  }
  const std::string order = a.get("page-order", "shuffled");
  if (order != "shuffled" && order != "sequential")
    return invalid_argument("--page-order = '" + order + "' is not shuffled or sequential");
  // --only takes the plain names; the order's suffix comes after.
  if (order == "sequential")
    for (BenchConfig& c : *configs) bench::use_sequential_pages(&c);
  return Status::Ok();
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string commit_of(const Args& a) {
  if (a.has("commit")) return a.get("commit");
  const char* e = std::getenv("MLA_COMMIT");
  return e && *e ? e : MLA_BENCH_COMMIT;
}

#ifdef MLA_HAVE_CUDA
// The card and the two ceilings, measured before any config.
Status cuda_context(bench::RunInfo* info) {
  int dev = 0;
  BENCH_CUDA(cudaGetDevice(&dev));
  MLA_RETURN_IF_ERROR(bench::query_card(dev, &info->card));
  info->have_card = true;
  cudaStream_t s = nullptr;
  BENCH_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  std::fprintf(stderr, "mla bench: %s; measuring copy bandwidth and GEMM rate\n", info->card.name.c_str());
  Status st = bench::measure_copy(int64_t(1) << 30, 10, s, &info->limits);
  if (st.ok()) st = bench::measure_gemm(8192, 20, s, &info->limits);
  (void)cudaStreamDestroy(s);
  MLA_RETURN_IF_ERROR(st);
  info->have_copy = info->have_gemm = true;
  info->limits.copy_kind = "cuda_memcpy";
  std::fprintf(stderr, "  copy %.0f GB/s, GEMM %.0f TFLOPS\n", info->limits.copy_gbps, info->limits.gemm_tflops);
  return Status::Ok();
}

Status parse_kernels(const std::string& s, std::vector<mla::cuda::Kernel>* out) {
  using mla::cuda::Kernel;
  for (const std::string& k : split(s)) {
    bool found = false;
    for (Kernel c : {Kernel::automatic, Kernel::portable, Kernel::portable_big, Kernel::portable_small, Kernel::sm90})
      if (k == mla::cuda::to_string(c)) out->push_back(c), found = true;
    if (!found) return invalid_argument("--kernel: '" + k + "' is not auto, portable, portable_big, portable_small or sm90");
  }
  return Status::Ok();
}
#endif

struct Settings {
  int64_t min_runs = 30, max_runs = 2000, target_ms = 200, warmup = 10, seed = 1;
  double l2_multiple = 4, check_flops = 2e9;
  bool eager = true, graph = true, layer = false;
};

Status parse_settings(const Args& a, Settings* s) {
  MLA_RETURN_IF_ERROR(a.get_int("min-runs", 30, 1, 1000000, &s->min_runs));
  MLA_RETURN_IF_ERROR(a.get_int("max-runs", 2000, s->min_runs, 1000000, &s->max_runs));
  MLA_RETURN_IF_ERROR(a.get_int("target-ms", 200, 1, 600000, &s->target_ms));
  MLA_RETURN_IF_ERROR(a.get_int("warmup", 10, 1, 100000, &s->warmup));
  MLA_RETURN_IF_ERROR(a.get_int("seed", 1, 0, INT64_MAX, &s->seed));
  for (auto f : {std::make_pair("l2-multiple", &s->l2_multiple), std::make_pair("check-gflop", &s->check_flops)}) {
    if (!a.has(f.first)) continue;
    char* end = nullptr;
    const std::string t = a.get(f.first);
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || *end || !(v >= 0)) return invalid_argument(std::string("--") + f.first + " = '" + t + "' is not a number >= 0");
    *f.second = v;
  }
  if (a.has("check-gflop")) s->check_flops *= 1e9;
  if (a.has("mode")) {
    s->eager = s->graph = s->layer = false;
    for (const std::string& m : split(a.get("mode"))) {
      if (m == "eager") s->eager = true;
      else if (m == "graph") s->graph = true;
      else if (m == "layer") s->layer = true;
      else return invalid_argument("--mode: '" + m + "' is not graph, eager or layer");
    }
  }
  return Status::Ok();
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args args;
  Status st = Args::parse(argc, argv,
                          {"sweep", "only", "batch", "heads", "q-len", "kv-len", "page-size", "q-format", "kv-format",
                           "mask", "window", "chunk", "page-order", "backend", "kernel", "mode", "min-runs", "max-runs", "target-ms",
                           "warmup", "l2-multiple", "check-gflop", "seed", "json", "commit", "card-info"},
                          {"list", "help"}, &args);
  if (!st.ok()) return std::fputs(kUsage, stderr), report("bench", st, kExitUsage);
  if (args.has("help")) return std::fputs(kUsage, stdout), kExitOk;
  std::string sweep;
  std::vector<BenchConfig> configs;
  Settings set;
  st = select_configs(args, &sweep, &configs);
  if (st.ok()) st = parse_settings(args, &set);
  if (!st.ok()) return report("bench", st, kExitUsage);
  if (args.has("list")) {
    for (const BenchConfig& c : configs)
      std::printf("%-31s baseline %-31s target %s\n", c.name.c_str(), c.baseline.empty() ? "-" : c.baseline.c_str(),
                  bench::target_text(c).c_str());
    return kExitOk;
  }

  Backend backend = unavailable_reason(Backend::cuda).empty() ? Backend::cuda : Backend::vulkan;
  if (args.has("backend") && (!parse_backend(args.get("backend"), &backend) || backend == Backend::reference))
    return report("bench", invalid_argument("--backend = '" + args.get("backend") + "' is not cuda or vulkan"), kExitUsage);
  if (!unavailable_reason(backend).empty()) {
    // Name every backend's reason when none was asked for: neither can run.
    std::string why = std::string(to_string(backend)) + " backend: " + unavailable_reason(backend);
    if (!args.has("backend")) why = "no backend can run here; cuda: " + unavailable_reason(Backend::cuda) + "; " + why;
    return report("bench", Status(StatusCode::not_available, why));
  }
  if (backend != Backend::cuda && args.has("kernel"))
    return report("bench", invalid_argument("--kernel chooses among CUDA kernels; the backend is " +
                                            std::string(to_string(backend))), kExitUsage);

  bench::RunInfo info;
  info.backend = to_string(backend);
  info.sweep = sweep;
  info.commit = commit_of(args);
  info.date = utc_now();
  info.card_extra = args.get("card-info");
#ifdef MLA_HAVE_CUDA
  // The ceilings come from CUDA also for a Vulkan run, when CUDA sees a device.
  std::vector<mla::cuda::Kernel> kernels;
  st = parse_kernels(args.get("kernel", "auto"), &kernels);
  if (!st.ok()) return report("bench", st, kExitUsage);
  if (unavailable_reason(Backend::cuda).empty()) {
    st = cuda_context(&info);
    if (!st.ok()) return report("bench", st);
  }
#endif
  std::unique_ptr<Runner> vk;
  if (backend == Backend::vulkan) {
    st = Runner::create(Backend::vulkan, &vk);
    if (!st.ok()) return report("bench", st);
    info.device = vk->device();
    if (!info.have_copy) {
      // No CUDA device to measure the ceilings: the copy bandwidth comes from
      // the Vulkan device itself (no GEMM rate, so no % gemm).
      std::fprintf(stderr, "mla bench: %s; measuring copy bandwidth (no CUDA device: no GEMM rate)\n",
                   info.device.c_str());
      info.limits.copy_runs = 10;
      st = vk->copy_bandwidth(int64_t(1) << 30, info.limits.copy_runs, &info.limits.copy_gbps, &info.limits.copy_bytes);
      if (!st.ok()) return report("bench", st);
      info.limits.copy_kind = "vulkan_compute_copy";
      info.have_copy = true;
      std::fprintf(stderr, "  copy %.0f GB/s (Vulkan compute-shader copy)\n", info.limits.copy_gbps);
    }
  } else {
    info.device = info.card.name;
  }

  std::FILE* json = nullptr;
  if (args.has("json")) {
    json = std::fopen(args.get("json").c_str(), "a");
    if (!json) return report("bench", Status(StatusCode::io_error, "cannot open --json " + args.get("json")));
  }
  bench::Report rep(info, json);
  std::fprintf(stderr, "mla bench: %zu configs on %s (%s)\n", configs.size(), info.backend.c_str(), info.device.c_str());
  bool stop = false;
  for (size_t i = 0; i < configs.size() && !stop; ++i) {
    const BenchConfig& c = configs[i];
    std::fprintf(stderr, "[%zu/%zu] %s\n", i + 1, configs.size(), c.name.c_str());
    if (backend == Backend::vulkan) {
      bench::VulkanRunOptions o;
      o.min_runs = int(set.min_runs);
      o.max_runs = int(set.max_runs);
      o.target_ms = double(set.target_ms);
      o.check_max_flops = set.check_flops;
      o.seed = uint64_t(set.seed) + i;
      std::vector<bench::Measurement> ms;
      st = bench::run_vulkan_config(*vk, c, o, &ms);
      if (!st.ok()) rep.add_error(c, "vulkan", st);
      for (const bench::Measurement& m : ms) rep.add(c, m);
      continue;
    }
#ifdef MLA_HAVE_CUDA
    for (mla::cuda::Kernel k : kernels) {
      bench::CudaRunOptions o;
      o.kernel = k;
      o.eager = set.eager;
      o.graph = set.graph;
      o.layer = set.layer;
      o.timing.min_warmup = int(set.warmup);
      o.timing.min_runs = int(set.min_runs);
      o.timing.max_runs = int(set.max_runs);
      o.timing.target_ms = double(set.target_ms);
      o.l2_multiple = set.l2_multiple;
      o.check_max_flops = set.check_flops;
      o.seed = uint64_t(set.seed) + i;
      std::vector<bench::Measurement> ms;
      st = bench::run_cuda_config(c, info.card, o, &ms);
      for (const bench::Measurement& m : ms) rep.add(c, m);
      if (st.ok()) continue;
      rep.add_error(c, mla::cuda::to_string(k), st);
      // Some device errors (an illegal address) are sticky in the CUDA
      // context: then later configs would only repeat them.
      (void)cudaGetLastError();
      if (st.code() == StatusCode::device_error && cudaDeviceSynchronize() != cudaSuccess) {
        std::fprintf(stderr, "mla bench: stopping after a device error\n");
        stop = true;
        break;
      }
    }
#endif
  }
  if (json) std::fclose(json);
  rep.print_table(stdout);
  return rep.failures() ? kExitFailure : kExitOk;
}

}  // namespace mla::tools
