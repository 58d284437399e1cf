// What every backend adapter shares (tests/reliability/backend.h).
#include "backend.h"

#include <doctest/doctest.h>

namespace rel {

using mla::test::HostProblem;

mla::Status Backend::decode_device_metadata(const HostProblem&, const Metadata&, Run*) {
  return mla::Status(mla::StatusCode::unsupported, name() + " has no device-side metadata");
}

Run poisoned_run(const HostProblem& p) {
  Run r;
  r.out.resize(size_t(mla::out_count(p.desc)));
  r.lse.resize(size_t(mla::lse_count(p.desc)));
  mla::test::poison(r.out, r.lse);
  r.status_word = 0xDEADBEEFu;  // a backend must write it
  return r;
}

Metadata metadata_of(const HostProblem& p) { return Metadata{p.q_offsets, p.kv_lens, p.page_table}; }

Run must_decode(const HostProblem& p) {
  Run r = poisoned_run(p);
  const mla::Status st = backend().decode(p, &r);
  INFO(backend().name() << ": " << p.describe());
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  CHECK(r.status_word == MLA_STATUS_OK);  // host validation passed, so the device flags nothing
  return r;
}

}  // namespace rel
