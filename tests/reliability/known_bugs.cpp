// Known, reported backend bugs (known_bugs.h).
#include "known_bugs.h"

#include <doctest/doctest.h>

#include "backend.h"
#include "tally.h"

namespace rel {

KnownBug::KnownBug(std::string id) : id_(std::move(id)), listed_(backend().known_bug(id_)) {}

void KnownBug::report(bool in_scope, const std::vector<std::string>& failures) {
  if (!(listed_ && in_scope)) {
    for (const std::string& f : failures) CHECK_MESSAGE(false, f);
    return;
  }
  ++in_scope_;
  if (failures.empty()) return;
  ++showed_;
  for (const std::string& f : failures) WARN_MESSAGE(false, "known bug " << id_ << ": " << f);
  count("known bug (reported, not fixed)", id_ + ": cases that showed it");
}

KnownBug::~KnownBug() {
  if (listed_ && in_scope_ > 0)
    CHECK_MESSAGE(showed_ > 0, "known bug " << id_ << " did not show in any of " << in_scope_
                                            << " cases: if it is fixed, remove it from " << backend().name()
                                            << "'s known_bug()");
}

}  // namespace rel
