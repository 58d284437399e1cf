// libFuzzer target: the .npy reader of `mla run` (tools/npy.cpp) on any
// bytes: malformed headers, wrong dtypes, truncated data, huge shapes.
// Properties beyond "no crash, no leak, no UB": an accepted array holds
// exactly count * itemsize bytes; a rejection names the file.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mla::tools::NpyArray a;
  const mla::Status st = mla::tools::parse_npy("fuzz.npy", data, size, &a);
  if (!st.ok()) {
    if (st.message().rfind("fuzz.npy: ", 0) != 0) std::abort();  // every error starts with the file name
    return 0;
  }
  if (uint64_t(a.count()) * uint64_t(mla::tools::dtype_size(a.dtype)) != a.bytes.size()) std::abort();
  if (a.shape_string().empty()) std::abort();
  return 0;
}
