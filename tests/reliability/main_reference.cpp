// The reliability suite on the float64 reference (CPU; always runs). Its
// output is rounded to BF16 like a device backend's, so the same tables and
// checks apply. It also holds the tests of the entry points that need no
// device: `mla run` on files and the CUDA backend's host-side validation.
#include <vector>

#include "backend.h"
#include "mla/numeric.h"
#include "mla/reference.h"
#include "tally.h"

namespace rel {

namespace {

class ReferenceBackend : public Backend {
 public:
  std::string name() const override { return "reference"; }
  mla::Status decode(const mla::test::HostProblem& p, Run* r) override {
    std::vector<float> out(r->out.size()), lse(r->lse.size());
    const mla::Status st = mla::reference_decode(p.desc, p.data(), out.data(), lse.data());
    if (!st.ok()) return st;  // outputs untouched
    for (size_t i = 0; i < out.size(); ++i) r->out[i] = mla::float_to_bf16(out[i]);
    r->lse = lse;
    r->status_word = MLA_STATUS_OK;  // the reference validates everything on the host
    return st;
  }
};

}  // namespace

Backend& backend() {
  static ReferenceBackend b;
  return b;
}

}  // namespace rel

int main(int argc, char** argv) { return rel::run_and_report(argc, argv, nullptr); }
