// Option parsing for the `mla` subcommands (tools/args.h).
#include "args.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace mla::tools {

Status Args::parse(int argc, char** argv, const std::vector<std::string>& options,
                   const std::vector<std::string>& flags, Args* out) {
  auto listed = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) return invalid_argument("unexpected argument '" + arg + "' (options start with --)");
    arg = arg.substr(2);
    std::string value;
    const size_t eq = arg.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) value = arg.substr(eq + 1), arg = arg.substr(0, eq);
    if (listed(flags, arg)) {
      if (inline_value) return invalid_argument("--" + arg + " takes no value");
    } else if (listed(options, arg)) {
      if (!inline_value) {
        if (i + 1 >= argc) return invalid_argument("--" + arg + " needs a value");
        value = argv[++i];
      }
    } else {
      return invalid_argument("unknown option --" + arg);
    }
    if (a.values_.count(arg)) return invalid_argument("--" + arg + " is given twice");
    a.values_[arg] = value;
  }
  *out = std::move(a);
  return Status::Ok();
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

Status Args::get_int(const std::string& name, int64_t fallback, int64_t lo, int64_t hi, int64_t* out) const {
  auto it = values_.find(name);
  if (it == values_.end()) return *out = fallback, Status::Ok();
  const std::string& s = it->second;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE)
    return invalid_argument("--" + name + " = '" + s + "' is not an integer");
  if (v < lo || v > hi)
    return invalid_argument("--" + name + " = " + s + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  *out = v;
  return Status::Ok();
}

}  // namespace mla::tools
