// tools/backend.h - one interface over the backends for the `mla` commands:
// the float64 reference (always present), CUDA and Vulkan (when built, through
// their host-memory APIs). Outputs come back as float: a BF16-output backend's
// values are widened exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mla/status.h"
#include "mla/types.h"

namespace mla::tools {

enum class Backend { reference, cuda, vulkan };
const char* to_string(Backend b);
bool parse_backend(const std::string& s, Backend* out);  // "reference", "cuda", "vulkan"

// "" when the backend can run here; otherwise why not ("not built: ...", or
// the backend's own reason, e.g. no device).
std::string unavailable_reason(Backend b);

// The best backend present: cuda, then vulkan, then reference.
Backend best_backend();

struct RunOutput {
  std::vector<float> out;  // [total_q, H, 512]
  std::vector<float> lse;  // [total_q, H]
  uint32_t status_word = 0;  // device-side fault bits (MLA_STATUS_*); 0 for the reference
  double kernel_ms = -1;     // the backend's own timing; -1 when it gives none
  double wall_ms = 0;        // host wall clock around the call (includes copies)
};

// Runs problems on one backend, keeping its context (devices, pipelines)
// between calls so that repeated runs measure the work, not the setup.
class Runner {
 public:
  // not_available (with the reason) when the backend cannot run here.
  static Status create(Backend b, std::unique_ptr<Runner>* out);
  ~Runner();

  Backend backend() const { return backend_; }
  std::string device() const;  // what runs it, for reports

  // Host buffers in, float outputs out (sized here).
  Status run(const ProblemDesc& d, const ProblemData& host, RunOutput* r);

  // The decode timed on device-resident inputs (Vulkan:
  // Context::time_decode_host): uploads once, one decode whose outputs fill
  // *r as run() does (kernel_ms -1, wall_ms the whole call), then untimed
  // decodes back to back for warmup_ms of wall time, then `reps` decodes
  // whose GPU times (ms) go to *ms. not_available on the other backends.
  Status time_resident(const ProblemDesc& d, const ProblemData& host, double warmup_ms, int reps, RunOutput* r,
                       std::vector<double>* ms);

  // The device-copy bandwidth of the Vulkan device (Context::copy_bandwidth:
  // a compute-shader copy of `bytes`, less where maxStorageBufferRange caps
  // it, median of `reps`): read + write bytes per second / 1e9, and the
  // bytes it copied. not_available on the other backends.
  Status copy_bandwidth(int64_t bytes, int reps, double* gb_per_s, int64_t* copied);

 private:
  struct Impl;
  explicit Runner(Backend b);
  Backend backend_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mla::tools
