// libFuzzer target: problem.json (tools/json.cpp, tools/problem_json.cpp)
// and the contract's validation of the description (common/src/validate.cpp).
// Input: 16 bytes of little-endian int32 batch, total_q, num_pages,
// max_pages (the fields the .npy shapes give), then the JSON text.
// Properties beyond "no crash, no leak, no UB": every error names the file;
// a description validate_desc rejects gets a message "field = value ...";
// an accepted description written back by desc_to_json reads back the same.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "mla/validate.h"
#include "problem_json.h"

namespace {

bool same_json_fields(const mla::ProblemDesc& a, const mla::ProblemDesc& b) {
  return a.num_heads == b.num_heads && a.q_format == b.q_format && a.kv_format == b.kv_format && a.mask == b.mask &&
         a.window == b.window && a.chunk == b.chunk && a.softmax_scale == b.softmax_scale &&
         a.page_size == b.page_size && a.num_splits == b.num_splits && a.batch_invariant == b.batch_invariant;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int32_t shape[4] = {0, 0, 0, 0};
  const size_t head = size < sizeof shape ? size : sizeof shape;
  std::memcpy(shape, data, head);
  const std::string text(reinterpret_cast<const char*>(data + head), size - head);

  mla::ProblemDesc d;
  d.batch = shape[0], d.total_q = shape[1], d.num_pages = shape[2], d.max_pages = shape[3];
  const mla::Status st = mla::tools::desc_from_json("problem.json", text, &d);
  if (!st.ok()) {
    if (st.message().rfind("problem.json", 0) != 0) std::abort();
    return 0;
  }
  const mla::Status v = mla::validate_desc(d);
  if (!v.ok() && (v.code() != mla::StatusCode::invalid_argument || v.message().find(" = ") == std::string::npos))
    std::abort();

  mla::ProblemDesc again = d;
  const mla::Status back = mla::tools::desc_from_json("problem.json", mla::tools::desc_to_json(d), &again);
  if (!back.ok() || !same_json_fields(d, again)) std::abort();
  return 0;
}
