// tools/args.h - the options of one `mla` subcommand: "--name value",
// "--name=value" and value-less flags, each name declared by the command, so
// that a misspelt option is an error instead of being ignored.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mla/status.h"

namespace mla::tools {

class Args {
 public:
  // argv[0] is the subcommand name; `options` take a value, `flags` do not.
  static Status parse(int argc, char** argv, const std::vector<std::string>& options,
                      const std::vector<std::string>& flags, Args* out);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  // An integer option in [lo, hi]; the error names the option, value and bound.
  Status get_int(const std::string& name, int64_t fallback, int64_t lo, int64_t hi, int64_t* out) const;

 private:
  std::map<std::string, std::string> values_;  // name without "--" -> value ("" for flags)
};

}  // namespace mla::tools
