// The validation table through one entry point (entry_table.h).
#include "entry_table.h"

#include <doctest/doctest.h>

#include <vector>

#include "bits.h"
#include "device_model.h"
#include "materialize.h"
#include "mla/numeric.h"
#include "mla/reference.h"
#include "tally.h"

namespace rel {

using mla::ProblemDesc;
using mla::StatusCode;
using mla::test::HostProblem;
using namespace mla::test::validation;

namespace {

struct Outputs {
  std::vector<uint16_t> bf16;
  std::vector<float> f32, lse;
  uint32_t status_word = 0xDEADBEEFu;
};

Outputs poisoned(int64_t out_count, int64_t lse_count) {
  Outputs o;
  o.bf16.resize(size_t(out_count));
  o.lse.resize(size_t(lse_count));
  std::vector<uint16_t> none;
  mla::test::poison(o.bf16, o.lse);
  o.f32.resize(size_t(out_count));
  mla::test::poison(none, o.f32);
  return o;
}

int64_t touched(const Outputs& o) {
  int64_t n = 0;
  for (uint16_t v : o.bf16) n += v != mla::test::kPoisonBf16;
  for (float v : o.f32) n += !mla::test::is_poison(v);
  for (float v : o.lse) n += !mla::test::is_poison(v);
  return n;
}

// A valid row's result against the float64 reference of the same problem:
// bitwise for a float output (the same reference ran), within the BF16
// tolerance for a backend.
void check_valid_result(const EntryPoint& e, const HostProblem& view, const Outputs& o) {
  mla::test::Reference ref;
  ref.out.assign(size_t(mla::out_count(view.desc)), 0.f);
  ref.lse.assign(size_t(mla::lse_count(view.desc)), 0.f);
  const mla::Status st = mla::reference_decode(view.desc, view.data(), ref.out.data(), ref.lse.data());
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  if (e.float_out) {
    const bool same = same_bits(ref.out, o.f32) && same_bits(ref.lse, o.lse);
    CHECK_MESSAGE(same, "the output differs from the reference's");
    return;
  }
  const mla::test::CompareResult c = mla::test::compare(view, o.bf16.data(), o.lse.data(), ref);
  CHECK_MESSAGE(c.ok, c.first_failure);
}

}  // namespace

void run_table(const EntryPoint& e) {
  const std::string cat_bad = "bad input", cat_good = "good input";
  for (const Row& r : rows()) {
    INFO(e.name << ", row: " << std::string(r.name));
    const Fixture f = make_row(r);
    mla::Status expected;
    const Stage stage = first_failure(r, f, &expected);
    REQUIRE(r.valid == (stage == Stage::none));  // the table agrees with validate.cpp

    // Rows whose shape the entry cannot take.
    if (!e.reads_buffers && r.level == Level::host && stage != Stage::desc) continue;  // desc is valid: nothing new
    if (e.reads_buffers && r.level == Level::desc && r.valid) continue;  // the buffers do not match

    // Buffers that match the row's description where it can have them;
    // otherwise the row's own pointers (never read: such rows are rejected
    // first, or have no buffers at all).
    HostProblem mat;
    const bool have_mat = stage != Stage::buffers && materialize(f, &mat);
    HostProblem view;  // what a valid row's result is checked against
    view.desc = f.d;
    if (have_mat) view = mat;
    const mla::ProblemData data = have_mat ? mat.data() : f.p;
    const ProblemDesc& sizes = have_mat ? mat.desc : f.hp.desc;
    Outputs o = poisoned(mla::out_count(sizes), mla::lse_count(sizes));
    const EntryCall call{f,
                         f.d,
                         data,
                         have_mat ? &mat : nullptr,
                         f.out ? o.bf16.data() : nullptr,
                         f.out ? o.f32.data() : nullptr,
                         f.lse ? o.lse.data() : nullptr,
                         &o.status_word};
    if (e.expressible && !e.expressible(call)) {
      rel::count(r.valid ? cat_good : cat_bad, e.name + ": not expressible");
      continue;
    }
    const mla::Status st = e.call(call);
    INFO("status: " << st.to_string());

    if (r.valid) {
      if (st.code() == StatusCode::not_available) {
        rel::count(cat_good, e.name + ": accepted, not run (no device)");
        continue;
      }
      REQUIRE_MESSAGE(st.ok(), "a row inside its bounds was rejected");
      if (e.reads_buffers) check_valid_result(e, view, o);
      rel::count(cat_good, e.name + (e.reads_buffers ? ": accepted and matched the reference" : ": accepted"));
      continue;
    }

    if (stage == Stage::metadata && !e.host_metadata) {
      // Left to the device: nothing written without one, the model's result with one.
      if (st.code() == StatusCode::not_available) {
        CHECK_MESSAGE(touched(o) == 0, "outputs were written although no device ran");
        rel::count(cat_bad, e.name + ": bad metadata left to the device, not run (no device)");
        continue;
      }
      REQUIRE(have_mat);
      REQUIRE_MESSAGE(st.ok(), "bad metadata is the device's to flag, not the host's");
      Run run{o.bf16, o.lse, o.status_word, {}};
      const ModelCheck mc = check_against_model(mat, run, false);
      CHECK_MESSAGE(mc.ok, mc.failure);
      CHECK(mc.flagged > 0);
      rel::count(cat_bad, e.name + ": bad metadata flagged on the device");
      continue;
    }

    const std::string own = e.own_message ? e.own_message(call) : std::string();
    CHECK(st.code() == StatusCode::invalid_argument);
    CHECK(st.message() == (own.empty() ? expected.message() : own));
    // The message names the field and value (and the bound, where the
    // validation's own message is the one expected).
    for (size_t i = 0; i < (own.empty() ? r.needles.size() : 1); ++i)
      CHECK_MESSAGE(st.message().find(r.needles[i]) != std::string::npos, "missing '" << r.needles[i] << "'");
    CHECK_MESSAGE(touched(o) == 0, touched(o) << " output values were written for a rejected problem");
    rel::count(cat_bad, e.name + ": rejected (" + to_string(stage) + " rule)");
  }
}

}  // namespace rel
