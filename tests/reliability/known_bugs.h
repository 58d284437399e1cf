// tests/reliability/known_bugs.h - backend bugs that a table found, that were
// reported, and that are not fixed yet (Backend::known_bug). The cases in a
// known bug's scope still run: their failures are printed (WARN) and counted
// instead of failing the suite. When the bug no longer shows in any case of
// its scope, the suite fails, so that the entry is removed with the fix.
#pragma once

#include <string>
#include <vector>

namespace rel {

class KnownBug {
 public:
  explicit KnownBug(std::string id);
  ~KnownBug();  // FAILs when the bug is listed but never showed in its scope
  KnownBug(const KnownBug&) = delete;
  KnownBug& operator=(const KnownBug&) = delete;

  // The failures of one case: CHECKed (failing the test) unless the case is
  // in the bug's scope and the backend lists the bug.
  void report(bool in_scope, const std::vector<std::string>& failures);

 private:
  std::string id_;
  bool listed_;
  int in_scope_ = 0, showed_ = 0;
};

}  // namespace rel
