// tests/reliability/backend.h - the backend under test behind one interface,
// so that every reliability table (NaN/Inf, FP8 stress, determinism, device
// faults) is written once and runs unchanged on the float64 reference, on
// Vulkan and on CUDA. Each suite's main file defines backend().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mla/status.h"
#include "mla_test.h"

namespace rel {

// The outputs of one call. out / lse are poisoned (mla::test::poison) before
// the call, so rows a backend leaves alone stay recognisable.
struct Run {
  std::vector<uint16_t> out;  // BF16 bits [total_q, H, 512]
  std::vector<float> lse;     // [total_q, H]
  uint32_t status_word = 0;
  std::vector<uint32_t> request_status;  // [B]; only from decode_device_metadata
};

// Metadata as the device holds it: replaces the problem's q_offsets, kv_lens
// and page_table (same sizes) after upload, unseen by host validation.
struct Metadata {
  std::vector<int32_t> q_offsets, kv_lens, page_table;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // The host-memory API (validates, runs, copies back).
  virtual mla::Status decode(const mla::test::HostProblem& p, Run* r) = 0;
  // The device API with metadata `m` in device memory; false where the
  // backend has none (the reference).
  virtual bool has_device_metadata() const { return false; }
  virtual mla::Status decode_device_metadata(const mla::test::HostProblem& p, const Metadata& m, Run* r);
  // Whether a bug a table found in this backend is reported and not fixed
  // yet (known_bugs.h lists how such cases are run).
  virtual bool known_bug(const std::string& id) const {
    (void)id;
    return false;
  }
};

// The backend of this suite (defined by main_<backend>.cpp).
Backend& backend();

// A Run sized for p and poisoned.
Run poisoned_run(const mla::test::HostProblem& p);

// The problem's own metadata, to be corrupted.
Metadata metadata_of(const mla::test::HostProblem& p);

// backend().decode() that REQUIREs success and a zero status word.
Run must_decode(const mla::test::HostProblem& p);

}  // namespace rel
