// Every rule of common/src/validate.cpp, just inside and just outside its
// bound (the table is tests/support/validation_cases.cpp): the error names the
// field, the value and the bound, and a rejected problem leaves the outputs
// untouched (the reference launches nothing).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "mla/validate.h"
#include "mla_test.h"
#include "validation_cases.h"

using namespace mla;
using namespace mla::test;
using namespace mla::test::validation;

TEST_CASE("validation: every rule just inside and just outside its bound") {
  int valid = 0, invalid = 0;
  for (const Row& r : rows()) {
    INFO("row: " << std::string(r.name));
    Fixture f = make_row(r);
    std::vector<uint16_t> unused;
    std::vector<float> out(size_t(out_count(f.hp.desc))), lse(size_t(lse_count(f.hp.desc)));
    poison(unused, out);  // NaN patterns no arithmetic produces
    poison(unused, lse);

    const Status st = r.level == Level::desc ? validate_desc(f.d) : validate_host_problem(f.d, f.p, f.out, f.lse);
    INFO("message: " << st.message());
    if (r.valid) {
      ++valid;
      CHECK(st.ok());
      if (st.ok() && r.level == Level::host) {  // and the reference runs it
        const Status run = reference_decode(f.d, f.p, f.out ? out.data() : nullptr, f.lse ? lse.data() : nullptr);
        CHECK_MESSAGE(run.ok(), run.to_string());
      }
      continue;
    }
    ++invalid;
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == StatusCode::invalid_argument);
    for (const std::string& n : r.needles) CHECK_MESSAGE(st.message().find(n) != std::string::npos, "missing '" << n << "'");
    // The whole host validation reports the same first violation, and the
    // reference rejects the problem without writing an output element.
    const Status all = validate_host_problem(f.d, f.p, f.out, f.lse);
    CHECK(all.message() == st.message());
    const Status run = reference_decode(f.d, f.p, f.out ? out.data() : nullptr, f.lse ? lse.data() : nullptr);
    CHECK_FALSE(run.ok());
    int64_t touched = 0;
    for (float v : out) touched += !is_poison(v);
    for (float v : lse) touched += !is_poison(v);
    CHECK(touched == 0);
  }
  std::printf("validation table through validate_* and reference_decode: %d rows inside their bounds accepted, "
              "%d outside rejected\n", valid, invalid);
  CHECK(valid >= 30);
  CHECK(invalid >= 50);
}
