// Context::time_decode_host: the first decode's outputs are decode_host's,
// bit for bit; the timed decodes give one finite, positive GPU time each;
// its own arguments are checked and named.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "vk_fixture.h"

using mla::test::HostProblem;

namespace {

HostProblem timing_problem(mla::RowFormat q, mla::RowFormat kv) {
  mla::test::ProblemSpec s;  // 16 heads, 64-token pages
  s.seed = vk_test::run_seed() + 80;
  s.q_format = q;
  s.kv_format = kv;
  s.mask = mla::MaskKind::causal;
  s.q_lens = {1, 3, 2};
  s.kv_lens = {40, 250, 17};
  s.num_splits = 2;  // the combine pass runs too
  return mla::test::make_problem(s);
}

struct Timed {
  vk_test::Result r;
  std::vector<double> ms;
  mla::Status st;
};

// time_decode_host with poisoned outputs, status word and times.
Timed time_decode(const HostProblem& p, double warmup_ms, int reps) {
  Timed t;
  t.r.out.resize(mla::out_count(p.desc));
  t.r.lse.resize(mla::lse_count(p.desc));
  mla::test::poison(t.r.out, t.r.lse);
  t.r.status = 0xDEADBEEFu;
  t.ms.assign(3, -1.0);
  t.st = vk_test::context().time_decode_host(p.desc, p.data(), warmup_ms, reps, &t.ms, t.r.out.data(), t.r.lse.data(),
                                             &t.r.status);
  return t;
}

}  // namespace

TEST_CASE("time_decode: outputs equal decode_host's bit for bit, one GPU time per rep") {
  const bool timestamps = vk_test::context().device_info().timestamps;
  for (auto formats : {std::make_pair(mla::RowFormat::bf16, mla::RowFormat::bf16),
                       std::make_pair(mla::RowFormat::fp8_rope640, mla::RowFormat::fp8_rope640)}) {
    const HostProblem p = timing_problem(formats.first, formats.second);
    INFO(p.describe());
    const vk_test::Result host = vk_test::run(p);
    const int reps = 5;
    const Timed t = time_decode(p, 20, reps);
    REQUIRE_MESSAGE(t.st.ok(), t.st.to_string());
    vk_test::check_validation_clean();
    CHECK(t.r.status == 0u);
    REQUIRE(t.r.out.size() == host.out.size());
    REQUIRE(t.r.lse.size() == host.lse.size());
    CHECK(std::memcmp(t.r.out.data(), host.out.data(), host.out.size() * 2) == 0);
    CHECK(std::memcmp(t.r.lse.data(), host.lse.data(), host.lse.size() * 4) == 0);
    REQUIRE(t.ms.size() == size_t(reps));
    for (double m : t.ms) {
      if (timestamps) {
        CHECK(std::isfinite(m));
        CHECK(m > 0);
        CHECK(m < 60000);
      } else {
        CHECK(std::isnan(m));
      }
    }
  }
}

TEST_CASE("time_decode: no warm-up still runs, and an empty batch gives zeros") {
  const HostProblem p = timing_problem(mla::RowFormat::bf16, mla::RowFormat::bf16);
  const vk_test::Result host = vk_test::run(p);
  const Timed t = time_decode(p, 0, 1);
  REQUIRE_MESSAGE(t.st.ok(), t.st.to_string());
  CHECK(std::memcmp(t.r.out.data(), host.out.data(), host.out.size() * 2) == 0);
  CHECK(t.ms.size() == 1u);

  mla::ProblemDesc empty;
  empty.num_heads = 16;
  empty.page_size = 16;
  empty.softmax_scale = 0.1f;
  std::vector<double> ms;
  uint32_t status = 77;
  const mla::Status st = vk_test::context().time_decode_host(empty, mla::ProblemData(), 0, 4, &ms, nullptr, nullptr,
                                                             &status);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  CHECK(status == 0u);
  CHECK(ms == std::vector<double>(4, 0.0));
  vk_test::check_validation_clean();
}

TEST_CASE("time_decode: invalid reps, warmup_ms and ms are named") {
  const HostProblem p = timing_problem(mla::RowFormat::bf16, mla::RowFormat::bf16);
  auto& ctx = vk_test::context();
  std::vector<uint16_t> out(mla::out_count(p.desc));
  std::vector<float> lse(mla::lse_count(p.desc));
  std::vector<double> ms;
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  struct Bad {
    double warmup_ms;
    int reps;
    bool null_ms;
    const char* field;
    const char* text;  // the value and the bound
  };
  for (const Bad& b : {Bad{10, 0, false, "reps", "reps = 0 is out of range [1, 10000]"},
                       Bad{10, -3, false, "reps", "reps = -3"},
                       Bad{10, 10001, false, "reps", "reps = 10001 is out of range [1, 10000]"},
                       Bad{-1, 2, false, "warmup_ms", "warmup_ms = -1 is out of range [0, 600000]"},
                       Bad{nan, 2, false, "warmup_ms", "warmup_ms = nan"},
                       Bad{inf, 2, false, "warmup_ms", "warmup_ms = inf"},
                       Bad{10, 2, true, "ms", "ms = null"}}) {
    INFO(b.text);
    const mla::Status st = ctx.time_decode_host(p.desc, p.data(), b.warmup_ms, b.reps, b.null_ms ? nullptr : &ms,
                                                out.data(), lse.data());
    CHECK(st.code() == mla::StatusCode::invalid_argument);
    CHECK(st.message().find(b.field) != std::string::npos);
    CHECK(st.message().find(b.text) != std::string::npos);
  }
  // The problem is validated as decode_host validates it.
  mla::ProblemDesc d = p.desc;
  d.num_heads = 0;
  mla::Status st = ctx.time_decode_host(d, p.data(), 0, 1, &ms, out.data(), lse.data());
  CHECK(st.code() == mla::StatusCode::invalid_argument);
  CHECK(st.message().find("num_heads") != std::string::npos);
  st = ctx.time_decode_host(p.desc, p.data(), 0, 1, &ms, nullptr, lse.data());
  CHECK(st.code() == mla::StatusCode::invalid_argument);
  vk_test::check_validation_clean();
}
