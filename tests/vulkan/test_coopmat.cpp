// The cooperative-matrix decode (decode_cm.comp) on contexts of its own,
// whatever MLA_VULKAN_COOPMAT says for the shared one:
//  * native (VK_NV_cooperative_matrix, tensor cores): where the device has
//    what it needs; elsewhere (lavapipe) the cases say so in a MESSAGE and
//    only check that requiring it fails with a clear error;
//  * emulated (the same shader with scalar stand-ins for the matrix
//    operations): on every device, so lavapipe checks the algorithm.
// Against the float64 reference with the default tolerance (BF16 output
// rounding plus a BF16-P term; this path's P is FP16, see vulkan/README.md).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ios>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "mla/numeric.h"
#include "vk_fixture.h"

using mla::test::HostProblem;
using mla::test::ProblemSpec;
using mla::vulkan::Options;

namespace {

// A context with the cooperative-matrix decode in `mode`; null (and *why
// set) when the device cannot run it natively.
std::unique_ptr<mla::vulkan::Context> make_context(Options::CoopMat mode, std::string* why) {
  std::unique_ptr<mla::vulkan::Context> ctx;
  Options o;
  o.validation = vk_test::validation_wanted();
  o.coopmat = mode;
  const mla::Status st = mla::vulkan::Context::create(o, &ctx);
  if (!st.ok()) {
    *why = st.to_string();
    return nullptr;
  }
  const mla::vulkan::DeviceInfo i = ctx->device_info();
  MESSAGE("decode " << i.decode << ", tiles " << i.tiles);
  return ctx;
}

// The contexts every case below runs on (shared, vk_test::coopmat_context):
// the native one when the device has it, and the emulated one.
struct Contexts {
  mla::vulkan::Context* native = nullptr;
  mla::vulkan::Context* emulated = nullptr;
  Contexts() {
    std::string why;
    native = vk_test::coopmat_context(true, &why);
    if (!native) MESSAGE("native cooperative-matrix decode not run here: " << why);
    emulated = vk_test::coopmat_context(false, nullptr);
  }
  template <class F>
  void each(F f) {
    if (native) {
      INFO("native cooperative matrices");
      f(*native);
    }
    INFO("emulated cooperative matrices");
    f(*emulated);
  }
};

void check(mla::vulkan::Context& ctx, const HostProblem& p) {
  vk_test::check_against_reference(p, vk_test::run_on(ctx, p));
}

// Pool slot of cached row `key` of request b, and its bytes.
int64_t kv_slot(const HostProblem& p, int b, int key) {
  return int64_t(p.page_table[int64_t(b) * p.desc.max_pages + key / p.desc.page_size]) * p.desc.page_size +
         key % p.desc.page_size;
}
uint8_t* kv_row(HostProblem& p, int b, int key) {
  return &p.kv_pool[kv_slot(p, b, key) * mla::row_bytes(p.desc.kv_format)];
}

// BF16 value * 2^e by its exponent field (finite, nonzero, staying normal).
uint16_t bf16_scaled(uint16_t v, int e) {
  const int E = (v >> 7) & 0xFF;
  if (E == 0 || E == 0xFF || E + e < 1 || E + e > 254) return v;
  return uint16_t((v & 0x807F) | ((E + e) << 7));
}
void scale_bf16(uint8_t* at, int count, int e) {
  for (int i = 0; i < count; ++i) {
    uint16_t v;
    std::memcpy(&v, at + 2 * i, 2);
    v = bf16_scaled(v, e);
    std::memcpy(at + 2 * i, &v, 2);
  }
}

// Causal, one request of q_len 4: V value `bad` (BF16 bits; FP8 KV: an E4M3
// NaN code) at dim 100 of the last key, which only the last token sees.
HostProblem bad_v_problem(mla::RowFormat kv, uint16_t bad, int heads, int page, int kv_len, uint64_t seed) {
  ProblemSpec s;
  s.seed = seed;
  s.num_heads = heads;
  s.kv_format = kv;
  s.page_size = page;
  s.mask = mla::MaskKind::causal;
  s.q_lens = {4};
  s.kv_lens = {kv_len};
  HostProblem p = mla::test::make_problem(s);
  uint8_t* row = kv_row(p, 0, kv_len - 1);
  if (kv == mla::RowFormat::bf16) std::memcpy(row + 2 * 100, &bad, 2);
  else row[100] = 0x7F;
  return p;
}

}  // namespace

TEST_CASE("coopmat: requiring it names what the device lacks, or runs it") {
  std::string why;
  auto ctx = make_context(Options::CoopMat::when_supported, &why);
  REQUIRE_MESSAGE(ctx, why);
  const mla::vulkan::DeviceInfo i = ctx->device_info();
  if (i.coopmat_missing.empty()) {
    CHECK(i.decode == "coopmat");
    CHECK(i.tiles.find("CM16x") != std::string::npos);
  } else {
    MESSAGE("cooperative-matrix decode unavailable: " << i.coopmat_missing);
    CHECK(i.decode == "fp32");
    std::unique_ptr<mla::vulkan::Context> req;
    Options o;
    o.coopmat = Options::CoopMat::required;
    const mla::Status st = mla::vulkan::Context::create(o, &req);
    CHECK(st.code() == mla::StatusCode::not_available);
    CHECK(st.message().find(i.coopmat_missing) != std::string::npos);
    CHECK(st.message().find("MLA_VULKAN_COOPMAT=1") != std::string::npos);
  }
}

TEST_CASE("coopmat: the randomised matrix and long ragged queries match the float64 reference") {
  Contexts c;
  const int count = vk_test::env_int("MLA_VULKAN_MATRIX_COUNT", 24);
  const auto specs = mla::test::config_matrix(vk_test::run_seed() + 50, count);
  std::mt19937_64 rng(vk_test::run_seed() + 51);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<ProblemSpec> ragged;
  const int pages[] = {1, 8, 64, 512};
  for (int k = 0; k < 4; ++k) {
    ProblemSpec s;
    s.seed = rng();
    s.num_heads = k % 2 ? 20 : 3;
    s.page_size = pages[k];
    s.mask = k == 2 ? mla::MaskKind::sliding_window : mla::MaskKind::causal;
    if (k == 2) s.window = 37;
    s.q_format = k == 3 ? mla::RowFormat::fp8_rope640 : mla::RowFormat::bf16;
    s.kv_format = k % 2 ? mla::RowFormat::fp8_rope640 : mla::RowFormat::bf16;
    for (int b = 0; b < 3; ++b) {
      s.kv_lens.push_back(uni(16, 500));
      s.q_lens.push_back(b == 0 ? 16 : uni(0, 16));
    }
    ragged.push_back(s);
  }
  c.each([&](mla::vulkan::Context& ctx) {
    for (const ProblemSpec& s : specs) check(ctx, mla::test::make_problem(s));
    for (const ProblemSpec& s : ragged) check(ctx, mla::test::make_problem(s));
  });
}

TEST_CASE("coopmat: splits and batch invariance") {
  Contexts c;
  ProblemSpec s;
  s.seed = vk_test::run_seed() + 60;
  s.num_heads = 16;
  s.page_size = 32;
  s.mask = mla::MaskKind::causal;
  s.q_lens = {1, 3, 2, 1};
  s.kv_lens = {4500, 333, 2100, 70};
  c.each([&](mla::vulkan::Context& ctx) {
    for (int n : {0, 1, 2, 5}) {
      HostProblem p = mla::test::make_problem(s);
      p.desc.num_splits = n;
      check(ctx, p);
    }
    ProblemSpec si = s;
    si.batch_invariant = true;
    const HostProblem p = mla::test::make_problem(si);
    const vk_test::Result all = vk_test::run_on(ctx, p);
    vk_test::check_against_reference(p, all);
    const HostProblem mixed = vk_test::select_requests(p, {3, 0, 2});
    const vk_test::Result r = vk_test::run_on(ctx, mixed);
    const auto want = vk_test::request_out(p, all, 0), got = vk_test::request_out(mixed, r, 1);
    REQUIRE(want.size() == got.size());
    CHECK(std::memcmp(want.data(), got.data(), want.size() * 2) == 0);
    const auto want_lse = vk_test::request_lse(p, all, 0), got_lse = vk_test::request_lse(mixed, r, 1);
    CHECK(std::memcmp(want_lse.data(), got_lse.data(), want_lse.size() * 4) == 0);
  });
}

TEST_CASE("coopmat: values far outside FP16's range are scaled per tile and per row") {
  Contexts c;
  c.each([&](mla::vulkan::Context& ctx) {
    for (int e : {90, -90, 20}) {
      // BF16: K * 2^e and Q * 2^-e (same logits, outputs * 2^e), then the
      // keys of odd index * 2^-24 (a range of 2^24 inside each tile).
      ProblemSpec s;
      s.seed = vk_test::run_seed() + 70 + uint64_t(e + 100);
      s.num_heads = 8;
      s.page_size = 16;
      s.mask = mla::MaskKind::causal;
      s.q_lens = {2, 1};
      s.kv_lens = {300, 77};
      s.nan_in_free_slots = false;
      HostProblem p = mla::test::make_problem(s);
      scale_bf16(p.kv_pool.data(), int(p.kv_pool.size() / 2), e);
      scale_bf16(p.q.data(), int(p.q.size() / 2), -e);
      for (int key = 1; key < p.kv_lens[0]; key += 2) scale_bf16(kv_row(p, 0, key), MLA_DIM_QK, -24);
      check(ctx, p);
    }
    // FP8: sigma_k * 2^40, sigma_q * 2^-40; then the rope of key 5 * 2^30
    // with the other ropes of its tiles zero: the E4M3 content keeps its own
    // exponent (exact), so nothing may lose precision. (With other ropes
    // present they would lose bits relative to the 2^30 one: the per-tile
    // bound of vulkan/README.md.)
    ProblemSpec s;
    s.seed = vk_test::run_seed() + 80;
    s.num_heads = 16;
    s.q_format = mla::RowFormat::fp8_rope640;
    s.kv_format = mla::RowFormat::fp8_rope640;
    s.q_lens = {3};
    s.kv_lens = {200};
    s.mask = mla::MaskKind::causal;
    s.nan_in_free_slots = false;
    HostProblem p = mla::test::make_problem(s);
    for (float& k : p.kv_scales) k = std::ldexp(k, 40);
    for (float& q : p.q_scales) q = std::ldexp(q, -40);
    check(ctx, p);
    for (int key = 0; key < 64; ++key)
      if (key != 5) std::memset(kv_row(p, 0, key) + MLA_FP8_ROPE_BYTE_OFFSET, 0, 2 * MLA_DIM_ROPE);
    scale_bf16(kv_row(p, 0, 5) + MLA_FP8_ROPE_BYTE_OFFSET, MLA_DIM_ROPE, 30);
    check(ctx, p);
  });
}

TEST_CASE("coopmat: a non-finite V value reaches only the rows that see its key") {
  // Tensor-core P.V multiplies every key of a tile into every row (0 * NaN
  // = NaN); the shader zeroes such values for the rows that do not see the
  // key and gives it a NaN logit in the rows that do.
  Contexts c;
  c.each([&](mla::vulkan::Context& ctx) {
    for (auto kv : {mla::RowFormat::bf16, mla::RowFormat::fp8_rope640}) {
      for (uint16_t bad : {uint16_t(0x7FC0), uint16_t(0x7F80), uint16_t(0xFF80)}) {
        if (kv == mla::RowFormat::fp8_rope640 && bad != 0x7FC0) continue;  // E4M3 has no Inf
        // Causal, q_len 4: the last key is seen by the last token only.
        const HostProblem p = bad_v_problem(kv, bad, 6, 8, 40, vk_test::run_seed() + 90);
        const vk_test::Result r = vk_test::run_on(ctx, p);
        const mla::test::Reference ref = mla::test::run_reference(p);
        const int H = p.desc.num_heads;
        for (int i = 0; i < 4 * H; ++i) {
          INFO("row " << i << ", V value " << std::hex << bad << std::dec << ", " << p.describe());
          const uint16_t* o = &r.out[size_t(i) * MLA_DIM_V];
          const float* want = &ref.out[size_t(i) * MLA_DIM_V];
          if (i / H == 3) {  // sees the key
            CHECK(std::isnan(mla::bf16_to_float(o[100])));
            continue;
          }
          double ss = 0;
          for (int d = 0; d < MLA_DIM_V; ++d) ss += double(want[d]) * want[d];
          const double rms = std::sqrt(ss / MLA_DIM_V);
          CHECK(std::fabs(r.lse[i] - ref.lse[i]) <= 1e-3 * std::max(1.f, std::fabs(ref.lse[i])));
          int bad_values = 0;
          for (int d = 0; d < MLA_DIM_V; ++d) {
            const double v = mla::bf16_to_float(o[d]);
            if (!(std::fabs(v - want[d]) <= std::fabs(want[d]) / 256 + rms / 128)) ++bad_values;
          }
          CHECK(bad_values == 0);
        }
        if (bad == 0x7FC0) vk_test::check_against_reference(p, r);  // NaN is pinned everywhere
      }
    }
  });
}

TEST_CASE("coopmat: the row-group size does not change a single bit") {
  // Each row's logits, weights and output are computed the same way whatever
  // rows share its workgroup (per-row Q exponents, per-tile K exponents that
  // do not depend on the rows): G = 16, 32 (and 64 where it fits) agree
  // bitwise at the same key tile.
  ProblemSpec s;
  s.seed = vk_test::run_seed() + 100;
  s.num_heads = 40;  // G = 16, 32, 64 all take several groups
  s.kv_format = mla::RowFormat::fp8_rope640;
  s.num_splits = 1;  // the automatic split follows the number of row groups
  s.mask = mla::MaskKind::sliding_window;
  s.window = 50;
  s.q_lens = {2, 1};
  s.kv_lens = {190, 64};
  const HostProblem p = mla::test::make_problem(s);
  for (auto mode : {Options::CoopMat::required, Options::CoopMat::emulate}) {
    std::vector<uint16_t> base;
    std::vector<float> base_lse;
    for (const char* rows : {"16", "32", "64"}) {
      setenv("MLA_VULKAN_COOPMAT_ROWS", rows, 1);
      setenv("MLA_VULKAN_COOPMAT_KEYS", "16", 1);
      std::string why;
      auto ctx = make_context(mode, &why);
      unsetenv("MLA_VULKAN_COOPMAT_ROWS");
      unsetenv("MLA_VULKAN_COOPMAT_KEYS");
      if (!ctx) {
        MESSAGE("not run: " << why);
        break;
      }
      INFO("rows " << rows << ", tiles " << ctx->device_info().tiles);
      const vk_test::Result r = vk_test::run_on(*ctx, p);
      if (base.empty()) {
        base = r.out;
        base_lse = r.lse;
        vk_test::check_against_reference(p, r);
      } else {
        CHECK(std::memcmp(r.out.data(), base.data(), base.size() * 2) == 0);
        CHECK(std::memcmp(r.lse.data(), base_lse.data(), base_lse.size() * 4) == 0);
      }
    }
  }
}

namespace {
// A context in `mode` with MLA_VULKAN_CM_WARPS = warps and MLA_VULKAN_CM_RESCALE
// = rescale (both restored after); null (and *why) when it cannot be created.
std::unique_ptr<mla::vulkan::Context> make_context_with(Options::CoopMat mode, const char* warps,
                                                        const char* rescale, std::string* why) {
  const char* vars[2] = {"MLA_VULKAN_CM_WARPS", "MLA_VULKAN_CM_RESCALE"};
  const char* values[2] = {warps, rescale};
  std::string saved[2];
  bool had[2];
  for (int i = 0; i < 2; ++i) {
    const char* v = std::getenv(vars[i]);
    had[i] = v != nullptr;
    saved[i] = v ? v : "";
    setenv(vars[i], values[i], 1);
  }
  auto ctx = make_context(mode, why);
  for (int i = 0; i < 2; ++i) {
    if (had[i]) setenv(vars[i], saved[i].c_str(), 1);
    else unsetenv(vars[i]);
  }
  return ctx;
}
}  // namespace

TEST_CASE("coopmat: skipping the O rescale where no row max moved changes no bit") {
  // decode_cm_phases.glsl CM_PV_RESCALE: a subgroup multiplies its O
  // accumulators by the rescale only when a row of its group has a factor
  // other than exactly 1 (its running max moved; rows past the request's end
  // count as 1). Problems where most tiles move no max and some do: the
  // logits of every key but the first 16 damped (BF16 K * 2^-2, FP8 sigma_k
  // / 4), every 37th key boosted (K * 2, sigma_k * 2), full and padded row
  // groups (H = 16, 8, 20), a split, a NaN V value (causal: seen by the last
  // token only). Against the reference, and bitwise against the multiply on
  // every tile (MLA_VULKAN_CM_RESCALE=always), with the default main and the
  // producer-warp main, emulated and native where present.
  if (!vk_test::default_cm_build("MLA_VULKAN_CM_RESCALE=always")) return;
  std::vector<std::pair<HostProblem, bool>> problems;  // bool: has a NaN (no reference check)
  int k = 0;
  for (auto kv : {mla::RowFormat::bf16, mla::RowFormat::fp8_rope640})
    for (int heads : {16, 8, 20}) {
      ProblemSpec s;
      s.seed = vk_test::run_seed() + 110 + uint64_t(k++);
      s.num_heads = heads;
      s.kv_format = kv;
      s.page_size = 64;
      s.mask = mla::MaskKind::causal;
      s.q_lens = {1, 2};
      s.kv_lens = {520, 200};
      s.num_splits = heads == 8 ? 3 : 1;
      s.nan_in_free_slots = false;
      HostProblem p = mla::test::make_problem(s);
      for (int b = 0; b < 2; ++b)
        for (int key = 16; key < p.kv_lens[b]; ++key) {
          const int e = key % 37 == 0 ? 1 : -2;
          if (kv == mla::RowFormat::bf16) scale_bf16(kv_row(p, b, key), MLA_DIM_QK, e);
          else p.kv_scales[size_t(kv_slot(p, b, key))] = std::ldexp(p.kv_scales[size_t(kv_slot(p, b, key))], e);
        }
      problems.emplace_back(std::move(p), false);
    }
  for (auto kv : {mla::RowFormat::bf16, mla::RowFormat::fp8_rope640})
    problems.emplace_back(bad_v_problem(kv, 0x7FC0, 16, 16, 90, vk_test::run_seed() + 120), true);
  for (auto mode : {Options::CoopMat::emulate, Options::CoopMat::required})
    for (const char* warps : {"default", "producer"}) {
      std::string why;
      auto skip = make_context_with(mode, warps, "skip", &why);
      auto always = skip ? make_context_with(mode, warps, "always", &why) : nullptr;
      if (!skip || !always) {
        REQUIRE_MESSAGE(mode == Options::CoopMat::required, why);
        MESSAGE("native coopmat not run: " << why);
        break;
      }
      CHECK(always->device_info().tiles.find("rescale=always") != std::string::npos);
      CHECK(skip->device_info().tiles.find("rescale=") == std::string::npos);
      for (const auto& [p, has_nan] : problems) {
        INFO("tiles " << skip->device_info().tiles << ", " << p.describe());
        const vk_test::Result a = vk_test::run_on(*skip, p), b = vk_test::run_on(*always, p);
        if (!has_nan) vk_test::check_against_reference(p, a);
        CHECK(a.status == b.status);
        CHECK(std::memcmp(a.out.data(), b.out.data(), a.out.size() * 2) == 0);
        CHECK(std::memcmp(a.lse.data(), b.lse.data(), a.lse.size() * 4) == 0);
      }
    }
}
