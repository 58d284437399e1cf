// The validation table through the CUDA backend's host-side entry points:
// decode_host (validates the description and the buffers; the metadata is
// the device's to check, see mla/cuda.h "Device status") and make_plan
// (the description only). Validation comes before any device call, so the
// rejections are checked on machines without a GPU too; rows that are
// accepted run only where a device is present.
#include <doctest/doctest.h>

#ifdef MLA_HAVE_CUDA

#include <string>

#include "entry_table.h"
#include "mla/cuda.h"

namespace {

// Without a usable device an accepted call ends in a device error: that is
// "not run here", not a failure of validation.
mla::Status no_device_is_not_available(const mla::Status& st) {
  if (st.ok() || st.code() == mla::StatusCode::invalid_argument) return st;
  const std::string why = mla::cuda::unavailable_reason();
  if (!why.empty()) return mla::Status(mla::StatusCode::not_available, why + " (" + st.to_string() + ")");
  return st;
}

}  // namespace

TEST_CASE("validation table: cuda::decode_host") {
  rel::EntryPoint e;
  e.name = "cuda::decode_host";
  e.host_metadata = false;
  e.call = [](const rel::EntryCall& c) {
    return no_device_is_not_available(mla::cuda::decode_host(c.d, c.data, c.out_bf16, c.lse, c.status_word));
  };
  rel::run_table(e);
}

TEST_CASE("validation table: cuda::make_plan") {
  rel::EntryPoint e;
  e.name = "cuda::make_plan";
  e.reads_buffers = false;
  e.call = [](const rel::EntryCall& c) {
    mla::cuda::DecodePlan plan;
    return no_device_is_not_available(mla::cuda::make_plan(c.d, &plan));
  };
  rel::run_table(e);
}

#endif  // MLA_HAVE_CUDA
