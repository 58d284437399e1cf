// sm90_dev_check.cu - development harness of the sm_90a decode kernel, until
// the CUDA backend's planner, combine and tests exist. Not part of CI.
//
//   sm90_dev_check check [quick]   correctness against the float64 reference:
//       random problems of the three format pairs ((bf16, bf16), (fp8, fp8),
//       (bf16, fp8)) and the FP8 stress cases (content +-448, scales
//       2^-20..2^20), several schedules each (whole requests, several items a
//       CTA, split-K with a host combine), poisoned outputs, every element
//       compared; per-row errors; the E4M3 -> BF16 conversion over all codes.
//   sm90_dev_check bench [json]    timings of the issue-5 configurations with
//       the same-run copy bandwidth and cuBLAS GEMM ceilings.
//   sm90_dev_check bench-fp8 [json]  the issue-6 configurations: fp8 KV (Q
//       fp8 and bf16) against bf16 in the same run, and copy bandwidth.
// The fp8-KV kernel is switched on here (MLA_SM90_FP8=1 unless set).
//
// Build: see run_device.sh beside this file.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "../../decode_params.h"
#include "../sm90_decode.h"
#include "dev_cuda.h"
#include "dev_fp8.h"
#include "dev_gemm.h"
#include "dev_schedule.h"
#include "dev_variants.h"
#include "mla/numeric.h"
#include "mla/reference.h"
#include "mla_test.h"

namespace mla::sm90_dev {

using cuda_impl::DecodeParams;

// ---------------------------------------------------------------- kernels --

__device__ __forceinline__ uint32_t hash32(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return uint32_t(x);
}

// Fresh pseudo-random BF16 values, uniform in [-amplitude, amplitude).
__global__ void fill_bf16_kernel(uint16_t* dst, size_t n, uint32_t seed, float amplitude) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const float u = (hash32(i * 0x9e3779b97f4a7c15ull + seed) >> 8) * (1.f / 16777216.f);
    const float f = (2.f * u - 1.f) * amplitude;
    uint32_t bits;
    memcpy(&bits, &f, 4);
    dst[i] = uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
}

struct CombineTask {
  int64_t out_row;
  int32_t ws_row0, ws_stride, num_splits;
};

// One CTA of 128 threads per split row; 4 columns a thread.
__global__ void combine_kernel(const CombineTask* tasks, const float* partial_out, const float* partial_lse,
                               uint16_t* out, float* lse) {
  const CombineTask t = tasks[blockIdx.x];
  float mx = -INFINITY;
  for (int k = 0; k < t.num_splits; ++k) mx = fmaxf(mx, partial_lse[t.ws_row0 + int64_t(k) * t.ws_stride]);
  float wsum = 0.f;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  const int c = threadIdx.x * 4;
  for (int k = 0; k < t.num_splits; ++k) {
    const int64_t row = t.ws_row0 + int64_t(k) * t.ws_stride;
    const float w = mx == -INFINITY ? 0.f : __expf(partial_lse[row] - mx);
    const float4 v = *reinterpret_cast<const float4*>(partial_out + row * 512 + c);
    wsum += w;
    acc.x += w * v.x;
    acc.y += w * v.y;
    acc.z += w * v.z;
    acc.w += w * v.w;
  }
  const float inv = wsum > 0.f ? 1.f / wsum : 0.f;
  const float vals[4] = {acc.x * inv, acc.y * inv, acc.z * inv, acc.w * inv};
  uint16_t h[4];
  for (int i = 0; i < 4; ++i) {
    uint32_t bits;
    memcpy(&bits, &vals[i], 4);
    h[i] = uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
  *reinterpret_cast<uint2*>(out + t.out_row * 512 + c) =
      make_uint2(uint32_t(h[0]) | (uint32_t(h[1]) << 16), uint32_t(h[2]) | (uint32_t(h[3]) << 16));
  if (threadIdx.x == 0) lse[t.out_row] = wsum > 0.f ? mx + __logf(wsum) : -INFINITY;
}

// --------------------------------------------------------------- plumbing --

struct DeviceSchedule {
  DeviceBuffer<cuda_impl::RequestInfo> requests;
  DeviceBuffer<cuda_impl::WorkItem> items;
  DeviceBuffer<int32_t> part_begin;
  DeviceBuffer<float> partial_out, partial_lse;
  DeviceBuffer<CombineTask> combine;
  int32_t num_combine = 0;

  void upload(const ProblemDesc& d, const HostSchedule& s) {
    requests.upload(s.requests);
    items.upload(s.items.empty() ? std::vector<cuda_impl::WorkItem>(1) : s.items);
    part_begin.upload(s.part_begin);
    const size_t ws = size_t(std::max<int64_t>(1, s.workspace_rows));
    if (partial_out.count < ws * 512) partial_out.resize(ws * 512);
    if (partial_lse.count < ws) partial_lse.resize(ws);
    std::vector<CombineTask> tasks;
    for (const auto& r : s.requests) {
      if (r.num_splits <= 1 || r.q_len == 0) continue;
      const int32_t rows = r.q_len * d.num_heads;
      for (int32_t row = 0; row < rows; ++row)
        tasks.push_back(CombineTask{int64_t(r.q_begin) * d.num_heads + row, r.partial_row + row, rows, r.num_splits});
    }
    num_combine = int32_t(tasks.size());
    combine.upload(tasks.empty() ? std::vector<CombineTask>(1) : tasks);
  }
};

struct DeviceProblem {
  DeviceBuffer<uint8_t> q, kv;
  DeviceBuffer<float> q_scales, kv_scales;  // fp8 rows only
  DeviceBuffer<int32_t> page_table, q_offsets, kv_lens;
  DeviceBuffer<uint16_t> out;
  DeviceBuffer<float> lse;
  DeviceBuffer<uint32_t> status{1};
};

DecodeParams make_params(const ProblemDesc& d, const HostSchedule& hs, DeviceProblem& dp, DeviceSchedule& ds,
                         const void* q, const void* kv) {
  DecodeParams p{};
  p.batch = d.batch;
  p.num_heads = d.num_heads;
  p.total_q = d.total_q;
  p.q_format = int32_t(d.q_format);
  p.kv_format = int32_t(d.kv_format);
  p.mask = int32_t(d.mask);
  p.window = d.window;
  p.chunk = d.chunk;
  p.softmax_scale = d.softmax_scale;
  p.scale_log2 = float(double(d.softmax_scale) * 1.4426950408889634);
  p.page_size = d.page_size;
  p.page_shift = 0;
  while ((1 << p.page_shift) < d.page_size) ++p.page_shift;
  p.num_pages = d.num_pages;
  p.max_pages = d.max_pages;
  p.q = q;
  p.kv_pool = kv;
  p.q_scales = dp.q_scales.ptr;
  p.kv_scales = dp.kv_scales.ptr;
  p.page_table = dp.page_table.ptr;
  p.q_offsets = dp.q_offsets.ptr;
  p.kv_lens = dp.kv_lens.ptr;
  p.out = dp.out.ptr;
  p.lse = dp.lse.ptr;
  p.requests = ds.requests.ptr;
  p.items = ds.items.ptr;
  p.part_begin = ds.part_begin.ptr;
  p.num_parts = hs.num_parts;
  p.max_m_tiles = hs.max_m_tiles;
  p.partial_out = ds.partial_out.ptr;
  p.partial_lse = ds.partial_lse.ptr;
  p.status = dp.status.ptr;
  // The longest request stands in for the library's plan.max_q_len (the
  // small-H kernel's key, MLA_SM90_FP8_SMALLH=1).
  for (const auto& r : hs.requests) p.plan_max_q_len = std::max(p.plan_max_q_len, r.q_len);
  return p;
}

void launch_decode(const DecodeParams& p, cudaStream_t stream) {
  if (!cuda_impl::sm90_decode_launch(p, stream)) {
    std::fprintf(stderr, "sm90_decode_launch refused the call\n");
    std::exit(2);
  }
  DEV_CHECK_LAUNCH();
}

void launch_combine(const DeviceSchedule& ds, DeviceProblem& dp, cudaStream_t stream) {
  if (ds.num_combine == 0) return;
  combine_kernel<<<ds.num_combine, 128, 0, stream>>>(ds.combine.ptr, ds.partial_out.ptr, ds.partial_lse.ptr,
                                                     dp.out.ptr, dp.lse.ptr);
  DEV_CHECK_LAUNCH();
}

// ------------------------------------------------------------ correctness --

std::vector<test::ProblemSpec> check_specs(bool quick, RowFormat q_format, RowFormat kv_format) {
  std::vector<test::ProblemSpec> v;
  auto add = [&](int h, int page, MaskKind mask, int param, std::vector<int> q, std::vector<int> kv) {
    test::ProblemSpec s;
    s.q_format = q_format;
    s.kv_format = kv_format;
    s.num_heads = h;
    s.page_size = page;
    s.mask = mask;
    if (mask == MaskKind::sliding_window) s.window = param;
    if (mask == MaskKind::chunked) s.chunk = param;
    s.q_lens = q;
    s.kv_lens = kv;
    s.seed = 1000 + v.size();
    v.push_back(s);
  };
  add(16, 64, MaskKind::none, 0, {1, 1, 1}, {1, 64, 700});
  add(64, 16, MaskKind::causal, 0, {2, 1}, {130, 1000});
  add(128, 64, MaskKind::none, 0, {1, 1}, {500, 64});
  if (quick) return v;
  add(128, 16, MaskKind::causal, 0, {2, 3}, {129, 1000});
  add(64, 1, MaskKind::sliding_window, 100, {4, 1}, {333, 90});
  add(20, 256, MaskKind::chunked, 50, {3, 2, 1}, {77, 300, 1});
  add(1, 8, MaskKind::causal, 0, {16}, {40});
  add(128, 512, MaskKind::causal, 0, {16}, {300});
  add(8, 32, MaskKind::none, 0, {1}, {4096});
  add(16, 2, MaskKind::none, 0, {1, 0, 2}, {0, 5, 65});
  add(24, 4, MaskKind::sliding_window, 7, {5}, {200});
  add(32, 128, MaskKind::chunked, 64, {4, 4}, {1023, 64});
  // Unaligned first keys (tiles start below them) on TMA-sized pages.
  add(16, 64, MaskKind::sliding_window, 100, {2, 1}, {1000, 150});
  add(64, 8, MaskKind::chunked, 40, {3}, {500});
  add(32, 512, MaskKind::sliding_window, 300, {1}, {2000});
  add(128, 32, MaskKind::causal, 0, {1, 2}, {777, 64});
  for (auto& s : test::config_matrix(77, 60, 700))
    if (s.q_format == q_format && s.kv_format == kv_format) v.push_back(s);
  return v;
}

struct ScheduleMode {
  const char* name;
  int64_t split_keys;  // 0: whole requests
  int32_t items_per_part;
};

// One checked problem: its spec, and the FP8 stress to apply (none: e_lo > e_hi).
struct CheckCase {
  test::ProblemSpec spec;
  bool all_max = false;
  int e_lo = 1, e_hi = 0;
  bool unsplit = false;  // exact ties at logits near 1e18: whole modes only
  const char* label = "";
};

std::vector<CheckCase> check_cases(bool quick) {
  std::vector<CheckCase> v;
  const std::pair<RowFormat, RowFormat> pairs[] = {{RowFormat::bf16, RowFormat::bf16},
                                                    {RowFormat::fp8_rope640, RowFormat::fp8_rope640},
                                                    {RowFormat::bf16, RowFormat::fp8_rope640}};
  for (const auto& pr : pairs)
    for (const auto& s : check_specs(quick, pr.first, pr.second)) v.push_back(CheckCase{s});
  // The FP8 stress of the reliability issue (whole codes at +-448 with the
  // rope zeroed keep ties exact; a quarter at +-448 with scales over 2^+-20).
  for (RowFormat qf : {RowFormat::fp8_rope640, RowFormat::bf16})
    for (int k = 0; k < 3; ++k) {
      CheckCase c;
      c.spec.num_heads = 16;
      c.spec.q_format = qf;
      c.spec.kv_format = RowFormat::fp8_rope640;
      c.spec.mask = MaskKind::causal;
      c.spec.page_size = 32;
      c.spec.q_lens = {1, 3, 2};
      c.spec.kv_lens = {90, 260, 33};
      c.spec.seed = 9000 + v.size();
      c.all_max = k < 2;
      c.e_lo = k == 0 ? 20 : -20;
      c.e_hi = k == 1 ? -20 : 20;
      // FP8 Q at 2^20 too: logits near 1e18 with exact ties, which a merge
      // through the float32 LSE reweighs across partitions (the contract's
      // limit, docs/RELIABILITY.md; test_fp8_stress.cpp runs it unsplit).
      c.unsplit = k == 0 && qf == RowFormat::fp8_rope640;
      c.label = k == 0 ? "stress +-448 2^20" : k == 1 ? "stress +-448 2^-20" : "stress 1/4 +-448 2^+-20";
      v.push_back(c);
    }
  return v;
}

bool run_checks(bool quick, cudaStream_t stream) {
  const ScheduleMode modes[] = {{"whole", 0, 1}, {"whole x3", 0, 3}, {"split 128 x2", 128, 2}, {"split 64 x5", 64, 5}};
  int failures = 0, runs = 0;
  RowErrors worst[3];  // per pair: bf16/bf16, fp8/fp8, bf16/fp8
  for (const auto& cc : check_cases(quick)) {
    test::HostProblem hp = test::make_problem(cc.spec);
    if (cc.e_lo <= cc.e_hi) stress_fp8(hp, cc.spec.seed * 31 + 7, cc.all_max, cc.e_lo, cc.e_hi);
    const ProblemDesc& d = hp.desc;
    const int pair = d.kv_format == RowFormat::bf16 ? 0 : d.q_format == RowFormat::fp8_rope640 ? 1 : 2;
    test::Reference ref;
    ref.out.assign(out_count(d), 0.f);
    ref.lse.assign(lse_count(d), 0.f);
    Status st = reference_decode(d, hp.data(), ref.out.data(), ref.lse.data());
    if (!st.ok()) {
      std::printf("SKIP (reference refused: %s) %s\n", st.to_string().c_str(), hp.describe().c_str());
      continue;
    }
    DeviceProblem dp;
    dp.q.upload(hp.q);
    dp.kv.upload(hp.kv_pool);
    dp.q_scales.upload(hp.q_scales);
    dp.kv_scales.upload(hp.kv_scales);
    dp.page_table.upload(hp.page_table);
    dp.q_offsets.upload(hp.q_offsets);
    dp.kv_lens.upload(hp.kv_lens);
    dp.out.resize(std::max<size_t>(1, out_count(d)));
    dp.lse.resize(std::max<size_t>(1, lse_count(d)));
    for (const auto& mode : modes) {
      if (cc.unsplit && mode.split_keys > 0) continue;
      HostSchedule hs = plan_simple(d, hp.q_offsets.data(), hp.kv_lens.data(), mode.split_keys, mode.items_per_part);
      DeviceSchedule ds;
      ds.upload(d, hs);
      std::vector<uint16_t> out(out_count(d));
      std::vector<float> lse(lse_count(d));
      test::poison(out, lse);
      dp.out.upload(out);
      dp.lse.upload(lse);
      std::vector<float> ws_poison(ds.partial_out.count, NAN);
      ds.partial_out.upload(ws_poison);
      DecodeParams p = make_params(d, hs, dp, ds, dp.q.ptr, dp.kv.ptr);
      if (d.total_q > 0) launch_decode(p, stream);
      DEV_CHECK(cudaStreamSynchronize(stream));
      out = dp.out.download();
      lse = dp.lse.download();
      out.resize(out_count(d));
      lse.resize(lse_count(d));
      if (hs.workspace_rows > 0)
        combine_host(d, hs, ds.partial_out.download(), ds.partial_lse.download(), out.data(), lse.data());
      test::CompareResult cr = test::compare(hp, out.data(), lse.data(), ref);
      const RowErrors re = row_errors(hp, out.data(), ref.out);
      worst[pair].max_rel_l2 = std::max(worst[pair].max_rel_l2, re.max_rel_l2);
      worst[pair].max_abs_over_rms = std::max(worst[pair].max_abs_over_rms, re.max_abs_over_rms);
      worst[pair].rows += re.rows;
      ++runs;
      if (!cr.ok) ++failures;
      std::printf("%s [%s] %s%s%s: max err/tol %.3f, rel L2 %.2e, max|err|/rms %.2e, lse err %.2e%s%s\n",
                  cr.ok ? "PASS" : "FAIL", mode.name, cc.label, *cc.label ? " " : "", hp.describe().c_str(),
                  cr.max_err_over_tol, cr.max_rel_l2, re.max_abs_over_rms, cr.max_lse_err, cr.ok ? "" : " -- ",
                  cr.first_failure.c_str());
    }
  }
  const char* pair_names[3] = {"(bf16, bf16)", "(fp8, fp8)", "(bf16, fp8)"};
  for (int k = 0; k < 3; ++k)
    std::printf("per-row errors %s over %lld rows: worst relative L2 %.3e, worst max|err|/rms %.3e\n", pair_names[k],
                static_cast<long long>(worst[k].rows), worst[k].max_rel_l2, worst[k].max_abs_over_rms);
  std::printf("checks: %d runs, %d failed\n", runs, failures);
  return failures == 0;
}

// A page table changed after planning: ids outside the pool must never be
// read (zero rows instead), the status word must say so, and every output
// must still be written and finite.
bool run_fault_check(cudaStream_t stream, RowFormat q_format, RowFormat kv_format) {
  test::ProblemSpec spec;
  spec.q_format = q_format;
  spec.kv_format = kv_format;
  spec.num_heads = 16;
  spec.page_size = 16;
  spec.q_lens = {1, 2};
  spec.kv_lens = {300, 200};
  spec.seed = 4242;
  test::HostProblem hp = test::make_problem(spec);
  const ProblemDesc& d = hp.desc;
  HostSchedule hs = plan_simple(d, hp.q_offsets.data(), hp.kv_lens.data(), 0, 1);
  std::vector<int32_t> table = hp.page_table;
  table[3] = -5;                                 // request 0, keys 48..63
  table[size_t(d.max_pages) + 2] = d.num_pages + 7;  // request 1, keys 32..47
  DeviceProblem dp;
  dp.q.upload(hp.q);
  dp.kv.upload(hp.kv_pool);
  dp.q_scales.upload(hp.q_scales);
  dp.kv_scales.upload(hp.kv_scales);
  dp.page_table.upload(table);
  dp.q_offsets.upload(hp.q_offsets);
  dp.kv_lens.upload(hp.kv_lens);
  std::vector<uint16_t> out(out_count(d));
  std::vector<float> lse(lse_count(d));
  test::poison(out, lse);
  dp.out.upload(out);
  dp.lse.upload(lse);
  dp.status.upload(std::vector<uint32_t>{0u});
  DeviceSchedule ds;
  ds.upload(d, hs);
  launch_decode(make_params(d, hs, dp, ds, dp.q.ptr, dp.kv.ptr), stream);
  DEV_CHECK(cudaStreamSynchronize(stream));
  out = dp.out.download();
  lse = dp.lse.download();
  const uint32_t status = dp.status.download()[0];
  int64_t bad = 0;
  for (uint16_t h : out) bad += h == test::kPoisonBf16 || !std::isfinite(bf16_to_float(h));
  for (float l : lse) bad += test::is_poison(l) || !std::isfinite(l);
  const bool ok = bad == 0 && (status & MLA_STATUS_BAD_PAGE_ID) != 0;
  std::printf("%s fault check %s (page ids -5 and num_pages + 7): status 0x%x, %lld unwritten or non-finite values\n",
              ok ? "PASS" : "FAIL", hp.describe().c_str(), status, static_cast<long long>(bad));
  return ok;
}

// ------------------------------------------------------------------ bench --

struct BenchSpec {
  const char* name;
  int32_t batch, heads, q_len, kv_len, page;
  MaskKind mask;
  bool analyze = false;  // also time the variants (box 16, no math, no loads, whole-request plan)
};

struct Ceilings {
  double copy_gbps = 0, gemm_tflops = 0;
};

double measure_copy_gbps(cudaStream_t stream) {
  const size_t bytes = size_t(1) << 31;  // 2 GiB each way
  DeviceBuffer<uint8_t> a(bytes), b(bytes);
  fill_bf16_kernel<<<1024, 256, 0, stream>>>(reinterpret_cast<uint16_t*>(a.ptr), bytes / 2, 3u, 1.f);
  DEV_CHECK_LAUNCH();
  const double us = time_median_us(stream, 2, 10, [&](int) {
    DEV_CHECK(cudaMemcpyAsync(b.ptr, a.ptr, bytes, cudaMemcpyDeviceToDevice, stream));
  });
  return 2.0 * double(bytes) / (us * 1e-6) / 1e9;
}

void run_bench(cudaStream_t stream, const char* json_path) {
  cudaDeviceProp prop{};
  DEV_CHECK(cudaGetDeviceProperties(&prop, 0));
  Ceilings c;
  c.copy_gbps = measure_copy_gbps(stream);
  c.gemm_tflops = measure_gemm_tflops(stream);
  std::printf("card %s, %d SMs, L2 %d MB: copy %.0f GB/s (read+write), bf16 GEMM %.0f TFLOPS\n", prop.name,
              prop.multiProcessorCount, prop.l2CacheSize >> 20, c.copy_gbps, c.gemm_tflops);
  FILE* js = json_path ? std::fopen(json_path, "w") : nullptr;

  const BenchSpec specs[] = {
      {"H16", 128, 16, 1, 4096, 64, MaskKind::none, true}, {"H32", 128, 32, 1, 4096, 64, MaskKind::none},
      {"H64", 128, 64, 1, 4096, 64, MaskKind::none, true}, {"H128", 128, 128, 1, 4096, 64, MaskKind::none, true},
      {"H16 q2", 128, 16, 2, 4096, 64, MaskKind::causal},  {"H32 q2", 128, 32, 2, 4096, 64, MaskKind::causal},
      {"H64 q2", 128, 64, 2, 4096, 64, MaskKind::causal},  {"H128 q2", 128, 128, 2, 4096, 64, MaskKind::causal, true},
      {"H128 B32 8k", 32, 128, 1, 8192, 64, MaskKind::none}, {"H16 B1 64k", 1, 16, 1, 65536, 64, MaskKind::none, true},
      {"H64 page1", 128, 64, 1, 4096, 1, MaskKind::none, true},  {"H64 page16", 128, 64, 1, 4096, 16, MaskKind::none},
      {"H64 page256", 128, 64, 1, 4096, 256, MaskKind::none}, {"H20", 128, 20, 1, 4096, 64, MaskKind::none},
  };
  std::printf("%-13s %9s %9s %8s %7s %8s %7s %6s %6s\n", "config", "us", "dec us", "GB/s", "%copy", "TFLOPS",
              "%gemm", "floorM", "floorC");
  // MLA_DEV_BENCH_ONLY=H16,H64 (names as above) times only those configs.
  const char* only = std::getenv("MLA_DEV_BENCH_ONLY");
  for (const BenchSpec& b : specs) {
    if (only && *only && ("," + std::string(only) + ",").find("," + std::string(b.name) + ",") == std::string::npos)
      continue;
    ProblemDesc d;
    d.batch = b.batch;
    d.num_heads = b.heads;
    d.total_q = b.batch * b.q_len;
    d.mask = b.mask;
    d.softmax_scale = 1.f / std::sqrt(576.f);
    d.page_size = b.page;
    const int32_t pages_per_req = (b.kv_len + b.page - 1) / b.page;
    d.max_pages = pages_per_req;
    d.num_pages = pages_per_req * b.batch;
    std::vector<int32_t> q_offsets(b.batch + 1), kv_lens(b.batch, b.kv_len), table(size_t(d.num_pages));
    for (int32_t i = 0; i <= b.batch; ++i) q_offsets[i] = i * b.q_len;
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), std::mt19937_64(5));

    DeviceProblem dp;
    dp.page_table.upload(table);
    dp.q_offsets.upload(q_offsets);
    dp.kv_lens.upload(kv_lens);
    dp.out.resize(out_count(d));
    dp.lse.resize(lse_count(d));
    // Input sets rotated so that a run never finds the previous one's data in L2.
    const size_t kv_bytes = size_t(d.num_pages) * b.page * 1152, q_bytes = size_t(d.total_q) * b.heads * 1152;
    const int sets = int(std::min<size_t>(8, std::max<size_t>(2, (4 * size_t(prop.l2CacheSize)) / kv_bytes + 1)));
    std::vector<DeviceBuffer<uint8_t>> kv(sets), q(sets);
    for (int s = 0; s < sets; ++s) {
      kv[s].resize(kv_bytes);
      q[s].resize(q_bytes);
      fill_bf16_kernel<<<2048, 256, 0, stream>>>(reinterpret_cast<uint16_t*>(kv[s].ptr), kv_bytes / 2, 100u + s, 2.f);
      DEV_CHECK_LAUNCH();
      fill_bf16_kernel<<<256, 256, 0, stream>>>(reinterpret_cast<uint16_t*>(q[s].ptr), q_bytes / 2, 200u + s, 2.f);
      DEV_CHECK_LAUNCH();
    }
    HostSchedule hs = plan_balanced(d, q_offsets.data(), kv_lens.data(), prop.multiProcessorCount);
    DeviceSchedule ds;
    ds.upload(d, hs);
    std::vector<DecodeParams> params;
    for (int s = 0; s < sets; ++s) params.push_back(make_params(d, hs, dp, ds, q[s].ptr, kv[s].ptr));

    const double us_total = time_median_us(stream, 3, 30, [&](int i) {
      launch_decode(params[i % sets], stream);
      launch_combine(ds, dp, stream);
    });
    const double us_decode = time_median_us(stream, 3, 30, [&](int i) { launch_decode(params[i % sets], stream); });
    DEV_CHECK(cudaStreamSynchronize(stream));

    const double bytes = double(kv_bytes) + double(q_bytes) + double(d.total_q) * b.heads * (1024 + 4);
    const double flops = 2.0 * b.heads * b.q_len * double(b.kv_len) * 1088 * b.batch;
    const double gbps = bytes / (us_total * 1e-6) / 1e9, tflops = flops / (us_total * 1e-6) / 1e12;
    const double floor_mem_us = bytes / (c.copy_gbps * 1e9) * 1e6;
    const double floor_cmp_us = c.gemm_tflops > 0 ? flops / (c.gemm_tflops * 1e12) * 1e6 : 0;
    std::printf("%-13s %9.1f %9.1f %8.0f %6.1f%% %8.1f %6.1f%% %6.1f %6.1f  parts %d x %d items %zu\n", b.name,
                us_total, us_decode, gbps, 100 * gbps / c.copy_gbps, tflops,
                c.gemm_tflops > 0 ? 100 * tflops / c.gemm_tflops : 0.0, floor_mem_us, floor_cmp_us, hs.num_parts,
                hs.max_m_tiles, hs.items.size());
    if (b.analyze) {
      auto variant_us = [&](int variant, int box_cap, int prefetch) {
        return time_median_us(stream, 2, 20, [&](int i) {
          if (!launch_variant(params[i % sets], stream, variant, box_cap, prefetch)) std::exit(2);
          DEV_CHECK_LAUNCH();
        });
      };
      const double us_box16 = variant_us(0, 16, 0), us_pf2 = variant_us(0, 64, 2);
      const double us_noload = variant_us(2, 64, 0), us_nomath = variant_us(1, 64, 0);
      // The same two without TMA (box cap 0: every row by 16-byte cp.async,
      // the path of pages < 8): is the load method what the loads cost?
      const double us_full_cp = variant_us(0, 0, 0), us_nomath_cp = variant_us(1, 0, 0);
      HostSchedule whole = plan_simple(d, q_offsets.data(), kv_lens.data(), 0, 1);
      DeviceSchedule ds_whole;
      ds_whole.upload(d, whole);
      std::vector<DecodeParams> pw;
      for (int s = 0; s < sets; ++s) pw.push_back(make_params(d, whole, dp, ds_whole, q[s].ptr, kv[s].ptr));
      const double us_whole = time_median_us(stream, 2, 20, [&](int i) { launch_decode(pw[i % sets], stream); });
      // Loads only with whole requests: is the 2-items-a-CTA schedule what
      // the balanced loads-only time pays over the gather tool?
      const double us_whole_nomath = time_median_us(stream, 2, 20, [&](int i) {
        if (!launch_variant(pw[i % sets], stream, 1, 64, 0)) std::exit(2);
        DEV_CHECK_LAUNCH();
      });
      DEV_CHECK(cudaStreamSynchronize(stream));
      std::printf("  %-11s decode us: %.1f | box16 %.1f | L2 prefetch 2 tiles %.1f | no loads %.1f | no math %.1f "
                  "| whole requests (%d CTAs, no combine) %.1f, no math %.1f | cp.async only: full %.1f, no math %.1f\n",
                  b.name, us_decode, us_box16, us_pf2, us_noload, us_nomath, whole.num_parts * whole.max_m_tiles,
                  us_whole, us_whole_nomath, us_full_cp, us_nomath_cp);
    }
    if (js)
      std::fprintf(js,
                   "{\"config\":\"%s\",\"card\":\"%s\",\"batch\":%d,\"num_heads\":%d,\"q_len\":%d,\"kv_len\":%d,"
                   "\"page_size\":%d,\"time_us\":%.2f,\"decode_us\":%.2f,\"gbps\":%.1f,\"tflops\":%.2f,"
                   "\"pct_copy\":%.2f,\"pct_gemm\":%.2f,\"copy_gbps\":%.1f,\"gemm_tflops\":%.1f}\n",
                   b.name, prop.name, b.batch, b.heads, b.q_len, b.kv_len, b.page, us_total, us_decode, gbps, tflops,
                   100 * gbps / c.copy_gbps, c.gemm_tflops > 0 ? 100 * tflops / c.gemm_tflops : 0.0, c.copy_gbps,
                   c.gemm_tflops);
  }
  if (js) std::fclose(js);
}

// The issue-6 configurations: the same problem shape with an fp8_rope640 KV
// cache (Q fp8 and bf16) against the all-BF16 one, in one run with the copy
// bandwidth. Bytes: KV rows (+ 4 per key of scales), Q rows, BF16 out, LSE.
void run_bench_fp8(cudaStream_t stream, const char* json_path) {
  cudaDeviceProp prop{};
  DEV_CHECK(cudaGetDeviceProperties(&prop, 0));
  const double copy_gbps = measure_copy_gbps(stream);
  std::printf("card %s, %d SMs: copy %.0f GB/s (read+write)\n", prop.name, prop.multiProcessorCount, copy_gbps);
  FILE* js = json_path ? std::fopen(json_path, "w") : nullptr;
  const BenchSpec specs[] = {{"H16", 128, 16, 1, 4096, 64, MaskKind::none},
                             {"H128 q2", 128, 128, 2, 4096, 64, MaskKind::causal},
                             {"H16 B1 128k", 1, 16, 1, 131072, 64, MaskKind::none}};
  const std::pair<RowFormat, RowFormat> pairs[] = {{RowFormat::bf16, RowFormat::bf16},
                                                    {RowFormat::fp8_rope640, RowFormat::fp8_rope640},
                                                    {RowFormat::bf16, RowFormat::fp8_rope640}};
  std::printf("%-12s %-11s %9s %9s %8s %7s %8s\n", "config", "q, kv", "us", "dec us", "GB/s", "%copy", "vs bf16");
  for (const BenchSpec& b : specs) {
    double bf16_us = 0;
    for (const auto& pr : pairs) {
      ProblemDesc d;
      d.batch = b.batch;
      d.num_heads = b.heads;
      d.total_q = b.batch * b.q_len;
      d.q_format = pr.first;
      d.kv_format = pr.second;
      d.mask = b.mask;
      d.softmax_scale = 1.f / std::sqrt(576.f);
      d.page_size = b.page;
      const int32_t pages_per_req = (b.kv_len + b.page - 1) / b.page;
      d.max_pages = pages_per_req;
      d.num_pages = pages_per_req * b.batch;
      std::vector<int32_t> q_offsets(b.batch + 1), kv_lens(b.batch, b.kv_len), table(size_t(d.num_pages));
      for (int32_t i = 0; i <= b.batch; ++i) q_offsets[i] = i * b.q_len;
      std::iota(table.begin(), table.end(), 0);
      std::shuffle(table.begin(), table.end(), std::mt19937_64(5));
      DeviceProblem dp;
      dp.page_table.upload(table);
      dp.q_offsets.upload(q_offsets);
      dp.kv_lens.upload(kv_lens);
      dp.out.resize(out_count(d));
      dp.lse.resize(lse_count(d));
      const size_t kv_rows = size_t(d.num_pages) * b.page, q_rows = size_t(d.total_q) * b.heads;
      const size_t kv_bytes = kv_rows * size_t(row_bytes(d.kv_format)), q_bytes = q_rows * size_t(row_bytes(d.q_format));
      if (d.kv_format == RowFormat::fp8_rope640) {
        dp.kv_scales.resize(kv_rows);
        fill_scales_kernel<<<1024, 256, 0, stream>>>(dp.kv_scales.ptr, kv_rows, 7u);
        DEV_CHECK_LAUNCH();
      }
      if (d.q_format == RowFormat::fp8_rope640) {
        dp.q_scales.resize(size_t(d.total_q));
        fill_scales_kernel<<<64, 256, 0, stream>>>(dp.q_scales.ptr, size_t(d.total_q), 8u);
        DEV_CHECK_LAUNCH();
      }
      const int sets = int(std::min<size_t>(8, std::max<size_t>(2, (4 * size_t(prop.l2CacheSize)) / kv_bytes + 1)));
      std::vector<DeviceBuffer<uint8_t>> kv(sets), q(sets);
      for (int st = 0; st < sets; ++st) {
        kv[st].resize(kv_bytes);
        q[st].resize(q_bytes);
        if (d.kv_format == RowFormat::fp8_rope640)
          fill_fp8_rows_kernel<<<2048, 256, 0, stream>>>(kv[st].ptr, kv_rows, 100u + st);
        else
          fill_bf16_kernel<<<2048, 256, 0, stream>>>(reinterpret_cast<uint16_t*>(kv[st].ptr), kv_bytes / 2, 100u + st, 2.f);
        DEV_CHECK_LAUNCH();
        if (d.q_format == RowFormat::fp8_rope640)
          fill_fp8_rows_kernel<<<256, 256, 0, stream>>>(q[st].ptr, q_rows, 200u + st);
        else
          fill_bf16_kernel<<<256, 256, 0, stream>>>(reinterpret_cast<uint16_t*>(q[st].ptr), q_bytes / 2, 200u + st, 2.f);
        DEV_CHECK_LAUNCH();
      }
      HostSchedule hs = plan_balanced(d, q_offsets.data(), kv_lens.data(), prop.multiProcessorCount);
      DeviceSchedule ds;
      ds.upload(d, hs);
      std::vector<DecodeParams> params;
      for (int st = 0; st < sets; ++st) params.push_back(make_params(d, hs, dp, ds, q[st].ptr, kv[st].ptr));
      const double us_total = time_median_us(stream, 3, 30, [&](int i) {
        launch_decode(params[i % sets], stream);
        launch_combine(ds, dp, stream);
      });
      const double us_decode = time_median_us(stream, 3, 30, [&](int i) { launch_decode(params[i % sets], stream); });
      DEV_CHECK(cudaStreamSynchronize(stream));
      const double bytes = double(kv_bytes) + (d.kv_format == RowFormat::fp8_rope640 ? 4.0 * kv_rows : 0.0) +
                           double(q_bytes) + double(q_rows) * (1024 + 4);
      const double gbps = bytes / (us_total * 1e-6) / 1e9;
      if (pr.second == RowFormat::bf16) bf16_us = us_total;
      const char* pair_name = pr.second == RowFormat::bf16 ? "bf16, bf16" : pr.first == RowFormat::bf16 ? "bf16, fp8" : "fp8, fp8";
      std::printf("%-12s %-11s %9.1f %9.1f %8.0f %6.1f%% %7.3fx  parts %d x %d\n", b.name, pair_name, us_total,
                  us_decode, gbps, 100 * gbps / copy_gbps, bf16_us > 0 ? us_total / bf16_us : 0.0, hs.num_parts,
                  hs.max_m_tiles);
      if (js)
        std::fprintf(js,
                     "{\"config\":\"%s\",\"pair\":\"%s\",\"card\":\"%s\",\"time_us\":%.2f,\"decode_us\":%.2f,"
                     "\"gbps\":%.1f,\"pct_copy\":%.2f,\"ratio_vs_bf16\":%.4f,\"copy_gbps\":%.1f}\n",
                     b.name, pair_name, prop.name, us_total, us_decode, gbps, 100 * gbps / copy_gbps,
                     bf16_us > 0 ? us_total / bf16_us : 0.0, copy_gbps);
    }
  }
  if (js) std::fclose(js);
}

}  // namespace mla::sm90_dev

int main(int argc, char** argv) {
  using namespace mla::sm90_dev;
  using mla::RowFormat;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress survives a timeout kill
  setenv("MLA_SM90_FP8", "1", 0);            // the fp8-KV kernel is what this harness checks, unless told 0
  const std::string cmd = argc > 1 ? argv[1] : "check";
  cudaStream_t stream;
  DEV_CHECK(cudaStreamCreate(&stream));
  int rc = 0;
  if (cmd == "check") {
    const bool checks_ok = run_checks(argc > 2 && std::string(argv[2]) == "quick", stream);
    bool fault_ok = check_conversion_on_device();
    fault_ok = run_fault_check(stream, RowFormat::bf16, RowFormat::bf16) && fault_ok;
    fault_ok = run_fault_check(stream, RowFormat::fp8_rope640, RowFormat::fp8_rope640) && fault_ok;
    fault_ok = run_fault_check(stream, RowFormat::bf16, RowFormat::fp8_rope640) && fault_ok;
    rc = checks_ok && fault_ok ? 0 : 1;
  } else if (cmd == "check-fp8s") {
    rc = check_small_h_ops_on_device() ? 0 : 1;
  } else if (cmd == "bench") {
    run_bench(stream, argc > 2 ? argv[2] : nullptr);
  } else if (cmd == "bench-fp8") {
    run_bench_fp8(stream, argc > 2 ? argv[2] : nullptr);
  } else {
    std::fprintf(stderr, "usage: %s check [quick] | check-fp8s | bench [json] | bench-fp8 [json]\n", argv[0]);
    rc = 2;
  }
  DEV_CHECK(cudaStreamDestroy(stream));
  return rc;
}
