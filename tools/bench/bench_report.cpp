// Progress lines, JSON lines and the final table (bench_report.h).
#include "bench_report.h"

#include <algorithm>
#include <cmath>

#include "bench_json.h"

namespace mla::tools::bench {
namespace {

constexpr double kNone = NAN;  // a number that does not apply: null in JSON, "-" in the table

std::string cell(double v, const char* fmt) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

}  // namespace

const Report::Row* Report::find(const std::string& name, const std::string& mode,
                                const std::string& kernel_requested) const {
  for (const Row& r : rows_)
    if (r.error.empty() && r.c.name == name && r.m.mode == mode && r.m.kernel_requested == kernel_requested) return &r;
  return nullptr;
}

void Report::add(const BenchConfig& c, const Measurement& m) {
  Row r;
  r.c = c;
  r.w = workload(c);
  r.m = m;
  const double s = m.time.median_us * 1e-6;
  r.gbps = r.w.bytes / s / 1e9;
  r.tflops = r.w.flops / s / 1e12;
  r.pct_copy = info_.have_copy ? 100 * r.gbps / info_.limits.copy_gbps : kNone;
  r.pct_gemm = info_.have_gemm ? 100 * r.tflops / info_.limits.gemm_tflops : kNone;
  // The nearer ceiling decides what the config is bound by: the larger of
  // the two floor times (bytes / copy rate, FLOPs / GEMM rate); unknown
  // unless both were measured.
  const bool both = info_.have_copy && info_.have_gemm;
  r.pct_limit = both ? std::max(r.pct_copy, r.pct_gemm) : kNone;
  r.bound = !both ? "" : r.pct_copy >= r.pct_gemm ? "memory" : "compute";
  const Row* base = c.baseline.empty() ? nullptr : find(c.baseline, m.mode, m.kernel_requested);
  r.ratio = base ? m.time.median_us / base->m.time.median_us : kNone;
  // The targets are defined on planner + decode (graph and eager);
  // "layer" leaves the planner out, so no target is judged on it.
  if (m.mode != "layer" && (c.min_pct_copy > 0 || c.min_pct_gemm > 0 || c.max_ratio > 0)) {
    bool ok = true, known = true;
    auto need = [&](bool applies, double v, bool pass) {
      if (!applies) return;
      if (!std::isfinite(v)) known = false;
      else ok = ok && pass;
    };
    need(c.min_pct_copy > 0, r.pct_copy, r.pct_copy >= c.min_pct_copy);
    need(c.min_pct_gemm > 0, r.pct_gemm, r.pct_gemm >= c.min_pct_gemm);
    need(c.max_ratio > 0, r.ratio, r.ratio <= c.max_ratio);
    r.meets = known ? int(ok) : -1;
  }
  if (!m.check.pass) ++failures_;
  std::fprintf(stderr, "  %-31s %-5s %-14s %9.1f us %8.1f GB/s %7.1f TFLOPS %6s%% copy %6s%% gemm%s%s  [%s]\n",
               c.name.c_str(), m.mode.c_str(), m.kernel.c_str(), m.time.median_us, r.gbps, r.tflops,
               cell(r.pct_copy, "%.1f").c_str(), cell(r.pct_gemm, "%.1f").c_str(),
               std::isfinite(r.ratio) ? (" ratio " + cell(r.ratio, "%.3f")).c_str() : "",
               m.check.pass ? "" : "  CHECK FAILED", m.check.text.c_str());
  rows_.push_back(r);
  write_json(rows_.back());
}

void Report::add_error(const BenchConfig& c, const std::string& kernel_requested, const Status& st) {
  Row r;
  r.c = c;
  r.w = workload(c);
  r.m.kernel_requested = kernel_requested;
  r.error = st.to_string();
  ++failures_;
  std::fprintf(stderr, "  %-31s %s: %s\n", c.name.c_str(), kernel_requested.c_str(), r.error.c_str());
  rows_.push_back(r);
  write_json(rows_.back());
}

void Report::write_json(const Row& r) const {
  if (!json_) return;
  const BenchConfig& c = r.c;
  const Measurement& m = r.m;
  JsonLine j;
  j.str("backend", info_.backend).str("mode", m.mode).str("sweep", info_.sweep).str("config", c.name);
  j.str("kernel", m.kernel).str("kernel_requested", m.kernel_requested).str("timer", m.timer);
  j.str("q_format", to_string(c.q_format)).str("kv_format", to_string(c.kv_format)).str("mask", to_string(c.mask));
  j.integer("batch", c.batch).integer("num_heads", c.num_heads).integer("q_len", c.q_len);
  double keys = 0;
  for (int32_t k : c.kv_lens) keys += k;
  if (uniform_kv(c) && !c.kv_lens.empty())
    j.integer("kv_len", c.kv_lens[0]);
  else
    j.ints("kv_len", c.kv_lens);
  j.num("kv_len_mean", c.kv_lens.empty() ? 0 : keys / double(c.kv_lens.size())).num("kv_len_total", keys);
  j.integer("page_size", c.page_size).str("page_order", c.sequential_pages ? "sequential" : "shuffled");
  if (!r.error.empty()) {
    j.str("error", r.error);
  } else {
    j.num("time_us", m.time.median_us).num("time_us_min", m.time.min_us).num("time_us_p10", m.time.p10_us);
    j.num("time_us_p90", m.time.p90_us).num("time_us_mean", m.time.mean_us).integer("runs", m.time.runs);
    j.integer("rotation_sets", m.sets).num("rotated_mb", m.rotated_bytes / 1e6);
    j.num("gbps", r.gbps).num("tflops", r.tflops).num("pct_copy", r.pct_copy).num("pct_gemm", r.pct_gemm);
    j.num("pct_limit", r.pct_limit).str("bound", r.bound);
  }
  j.num("bytes", r.w.bytes).num("kv_bytes", r.w.kv_bytes).num("flops", r.w.flops);
  c.baseline.empty() ? j.null("baseline") : j.str("baseline", c.baseline);
  j.num("ratio", r.ratio).str("target", target_text(c));
  r.meets < 0 ? j.null("meets_target") : j.boolean("meets_target", r.meets == 1);
  if (r.error.empty()) j.boolean("check_pass", m.check.pass).str("check", m.check.text).str("note", m.note);
  j.str("card", info_.have_card ? info_.card.name : info_.device).str("device", info_.device);
  if (info_.have_card) {
    const CardInfo& k = info_.card;
    j.str("cc", std::to_string(k.cc_major) + "." + std::to_string(k.cc_minor)).integer("sm_count", k.sm_count);
    j.num("l2_mb", double(k.l2_bytes) / 1e6).num("memory_gb", double(k.memory_bytes) / 1e9);
    j.str("pci_bus_id", k.pci_bus_id).integer("sm_clock_max_mhz", k.sm_clock_max_mhz);
    j.integer("mem_clock_max_mhz", k.mem_clock_max_mhz).str("driver", k.driver);
    j.integer("cuda_driver", k.cuda_driver).integer("cuda_runtime", k.cuda_runtime);
  }
  // Clocks read right after this result's timed runs (NVML; null without it).
  j.num("sm_clock_mhz", m.state.sm_clock_mhz < 0 ? kNone : m.state.sm_clock_mhz);
  j.num("mem_clock_mhz", m.state.mem_clock_mhz < 0 ? kNone : m.state.mem_clock_mhz);
  j.num("temperature_c", m.state.temperature_c < 0 ? kNone : m.state.temperature_c);
  j.num("power_w", m.state.power_w < 0 ? kNone : m.state.power_w);
  if (info_.have_copy)
    j.num("copy_gbps", info_.limits.copy_gbps).integer("copy_bytes", info_.limits.copy_bytes)
        .str("copy_kind", info_.limits.copy_kind);
  else
    j.null("copy_gbps").null("copy_kind");
  if (info_.have_gemm)
    j.num("gemm_tflops", info_.limits.gemm_tflops).integer("gemm_n", info_.limits.gemm_n);
  else
    j.null("gemm_tflops");
  j.str("commit", info_.commit).str("date", info_.date);
  if (!info_.card_extra.empty()) j.str("card_info", info_.card_extra);
  std::fputs(j.line().c_str(), json_);
  std::fflush(json_);  // a run cut short keeps every finished result
}

void Report::print_table(std::FILE* f) const {
  std::fprintf(f, "mla bench: backend %s, sweep %s, commit %s, %s\n", info_.backend.c_str(), info_.sweep.c_str(),
               info_.commit.c_str(), info_.date.c_str());
  if (info_.have_card) {
    const CardInfo& k = info_.card;
    std::fprintf(f, "card: %s (cc %d.%d, %d SMs, L2 %.0f MB, max clocks SM %d / memory %d MHz), driver %s, CUDA %d\n",
                 k.name.c_str(), k.cc_major, k.cc_minor, k.sm_count, double(k.l2_bytes) / 1e6, k.sm_clock_max_mhz,
                 k.mem_clock_max_mhz, k.driver.empty() ? "?" : k.driver.c_str(), k.cuda_driver);
  }
  if (info_.device != info_.card.name) std::fprintf(f, "device: %s\n", info_.device.c_str());
  if (info_.have_copy && info_.have_gemm)
    std::fprintf(f, "limits: copy %.0f GB/s (%.2f GiB device-to-device, read + write), GEMM %.0f TFLOPS (cuBLAS BF16 %d^3)\n",
                 info_.limits.copy_gbps, double(info_.limits.copy_bytes) / (1 << 30), info_.limits.gemm_tflops,
                 info_.limits.gemm_n);
  else if (info_.have_copy)
    std::fprintf(f, "limits: copy %.0f GB/s (%.2f GiB, %s, read + write); GEMM rate not measured (no CUDA device), "
                 "so no %% of GEMM\n", info_.limits.copy_gbps, double(info_.limits.copy_bytes) / (1 << 30),
                 info_.limits.copy_kind == "vulkan_compute_copy" ? "Vulkan compute-shader copy" : "device-to-device");
  else
    std::fprintf(f, "limits: not measured (no CUDA device), so no %% of copy / GEMM\n");
  std::fprintf(f, "\n%-31s %-5s %-14s %10s %8s %7s %6s %6s %6s %-22s %-4s %s\n", "config", "mode", "kernel", "time_us",
               "GB/s", "TFLOPS", "%copy", "%gemm", "ratio", "target", "met", "check");
  for (const Row& r : rows_) {
    if (!r.error.empty()) {
      std::fprintf(f, "%-31s %-5s %-14s %s\n", r.c.name.c_str(), "-", r.m.kernel_requested.c_str(), r.error.c_str());
      continue;
    }
    std::fprintf(f, "%-31s %-5s %-14s %10.1f %8.1f %7.1f %6s %6s %6s %-22s %-4s %s\n", r.c.name.c_str(),
                 r.m.mode.c_str(), r.m.kernel.c_str(), r.m.time.median_us, r.gbps, r.tflops,
                 cell(r.pct_copy, "%.1f").c_str(), cell(r.pct_gemm, "%.1f").c_str(), cell(r.ratio, "%.3f").c_str(),
                 target_text(r.c).c_str(), r.meets < 0 ? "" : r.meets ? "yes" : "NO",
                 r.m.check.pass ? "ok" : "FAIL");
  }
}

}  // namespace mla::tools::bench
