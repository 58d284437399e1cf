// tools/bench/bench_cuda_inputs.h - the device memory of one config's run:
// one KV pool shared by all rotation sets (each set owns scattered pages of
// it, see bench_problem.h), and per set its Q, metadata, output, LSE and
// workspace. Filled with fresh random data on the device; outputs poisoned
// with NaN so that rows a kernel never writes are caught.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "bench_configs.h"
#include "bench_cuda_check.h"
#include "bench_problem.h"
#include "mla/status.h"
#include "mla/types.h"

namespace mla::tools::bench {

class DeviceSets {
 public:
  // `d` from describe(c, num_sets); workspace_bytes from make_plan(d).
  static Status create(const BenchConfig& c, const ProblemDesc& d, int32_t num_sets, int64_t workspace_bytes,
                       uint64_t seed, cudaStream_t stream, std::unique_ptr<DeviceSets>* out);

  int32_t sets() const { return num_sets_; }
  const ProblemDesc& desc() const { return desc_; }
  const SetMetadata& metadata(int32_t s) const { return meta_[size_t(s)]; }
  ProblemData data(int32_t s) const;  // device pointers
  uint16_t* out(int32_t s) const;
  float* lse(int32_t s) const;
  void* workspace(int32_t s) const;
  int64_t workspace_bytes() const { return ws_stride_; }

  // Bytes allocated in all (for the log).
  int64_t allocated_bytes() const;

 private:
  ProblemDesc desc_;
  int32_t num_sets_ = 0;
  std::vector<SetMetadata> meta_;
  DeviceBuffer pool_, kv_scales_, q_, q_scales_, page_table_, q_offsets_, kv_lens_, out_, lse_, ws_;
  // Per-set strides (bytes) into the buffers above, multiples of 256 so that
  // every set's pointers keep the API's alignment.
  int64_t q_stride_ = 0, qs_stride_ = 0, pt_stride_ = 0, qo_stride_ = 0, kl_stride_ = 0, out_stride_ = 0,
          lse_stride_ = 0, ws_stride_ = 0;
};

}  // namespace mla::tools::bench
