// mla/status.h - errors reported by every API of the library.
#pragma once

#include <string>
#include <utility>

namespace mla {

enum class StatusCode : int {
  ok = 0,
  invalid_argument = 1,  // a problem description or an input violates the contract
  unsupported = 2,       // valid, but this backend or device cannot run it
  out_of_memory = 3,
  device_error = 4,      // a CUDA or Vulkan call failed
  not_available = 5,     // the backend or a device is absent
  io_error = 6,          // a file could not be read or written
  internal = 7,
};

const char* to_string(StatusCode c);

// A status: ok, or a code and a message that names the field, the value and
// the bound ("num_heads = 200 is out of range [1, 128]").
class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::ok; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: num_heads = 200 is out of range [1, 128]"
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::ok;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return Status(StatusCode::invalid_argument, std::move(m)); }

}  // namespace mla

// Return early from a function returning Status.
#define MLA_RETURN_IF_ERROR(expr)            \
  do {                                       \
    ::mla::Status mla_status_ = (expr);      \
    if (!mla_status_.ok()) return mla_status_; \
  } while (0)
