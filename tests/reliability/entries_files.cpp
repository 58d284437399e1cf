// The validation table through `mla run` on files: every row that files can
// express (no null buffers, enum values that have names, a finite
// softmax_scale, at most 16 MiB) is written as a problem directory, run by
// the real executable (MLA_EXE), and must exit 1 with
// "mla run: invalid_argument: <the validation's message>" (or problem.json's
// own message where it rejects the row first), leaving the poisoned out.npy
// and lse.npy already in the --out directory untouched; rows inside their
// bounds must give the reference's output bit for bit.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "entry_table.h"
#include "npy.h"
#include "owned_problem.h"
#include "problem_io.h"
#include "problem_json.h"

namespace fs = std::filesystem;

namespace {

struct Dirs {
  fs::path root = fs::temp_directory_path() / ("mla_rel_files_" + std::to_string(::getpid()));
  fs::path in = root / "in", out = root / "out";
  std::string json() const { return (in / "problem.json").string(); }  // as `mla run` names it
  ~Dirs() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

// problem.json as desc_to_json writes it, plus window / chunk set under
// another mask (desc_to_json leaves those out; the row must reach `mla run`).
std::string json_text(const mla::ProblemDesc& d) {
  std::string s = mla::tools::desc_to_json(d);
  if (d.mask != mla::MaskKind::sliding_window && d.window != 0) s.insert(1, "\"window\": " + std::to_string(d.window) + ", ");
  if (d.mask != mla::MaskKind::chunked && d.chunk != 0) s.insert(1, "\"chunk\": " + std::to_string(d.chunk) + ", ");
  return s;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// "mla run: <code>: <message>\n" back into a Status.
mla::Status parse_report(int exit_code, const std::string& err) {
  const std::string prefix = "mla run: ";
  if (exit_code == 0) return mla::Status::Ok();
  if (exit_code == 1 && err.rfind(prefix, 0) == 0 && !err.empty() && err.back() == '\n')
    for (int c = 1; c <= int(mla::StatusCode::internal); ++c) {
      const std::string code = mla::to_string(mla::StatusCode(c));
      if (err.compare(prefix.size(), code.size() + 2, code + ": ") == 0)
        return mla::Status(mla::StatusCode(c), err.substr(prefix.size() + code.size() + 2,
                                                          err.size() - prefix.size() - code.size() - 3));
    }
  return mla::Status(mla::StatusCode::internal,
                     "mla run exited " + std::to_string(exit_code) + " with an unexpected report: " + err);
}

// Reads a float32 result file into dst (count floats); false if absent or of another size.
bool read_floats(const fs::path& p, float* dst, int64_t count) {
  mla::tools::NpyArray a;
  if (!mla::tools::read_npy(p.string(), &a).ok() || a.dtype != mla::tools::DType::f4 || a.count() != count) return false;
  if (count > 0) std::memcpy(dst, a.bytes.data(), size_t(count) * 4);
  return true;
}

}  // namespace

TEST_CASE("validation table: mla run on files") {
  const char* exe = std::getenv("MLA_EXE");
  REQUIRE_MESSAGE(exe != nullptr, "MLA_EXE (the mla executable) is not set; meson test sets it");
  const Dirs dirs;

  rel::EntryPoint e;
  e.name = "mla run (files)";
  e.float_out = true;
  e.expressible = [](const rel::EntryCall& c) {
    const int mask = int(c.d.mask);
    return c.mat && c.out_f32 && c.lse && mask >= MLA_MASK_NONE && mask <= MLA_MASK_CHUNKED &&
           std::isfinite(c.d.softmax_scale);
  };
  e.own_message = [&](const rel::EntryCall& c) {
    mla::ProblemDesc d;
    const mla::Status st = mla::tools::desc_from_json(dirs.json(), json_text(c.d), &d);
    return st.ok() ? std::string() : st.message();
  };
  e.call = [&](const rel::EntryCall& c) {
    fs::remove_all(dirs.root);
    mla::tools::OwnedProblem o;
    o.desc = c.d;
    o.q = c.mat->q, o.kv_pool = c.mat->kv_pool, o.q_scales = c.mat->q_scales, o.kv_scales = c.mat->kv_scales;
    o.page_table = c.mat->page_table, o.q_offsets = c.mat->q_offsets, o.kv_lens = c.mat->kv_lens;
    mla::Status st = mla::tools::save_problem(dirs.in.string(), o);
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    std::ofstream(dirs.json(), std::ios::trunc) << json_text(c.d);
    // The outputs of an earlier run, poisoned: a rejected problem must leave them.
    st = mla::tools::write_result(dirs.out.string(), c.d, c.out_f32, c.lse);
    REQUIRE_MESSAGE(st.ok(), st.to_string());

    const fs::path err = dirs.root / "stderr.txt";
    const std::string cmd = std::string(exe) + " run --inputs " + dirs.in.string() + " --out " + dirs.out.string() +
                            " > " + (dirs.root / "stdout.txt").string() + " 2> " + err.string();
    const int ws = std::system(cmd.c_str());
    REQUIRE_MESSAGE(WIFEXITED(ws), "mla run did not exit normally: " << cmd);
    const bool out_ok = read_floats(dirs.out / "out.npy", c.out_f32, mla::out_count(c.d));
    const bool lse_ok = read_floats(dirs.out / "lse.npy", c.lse, mla::lse_count(c.d));
    CHECK_MESSAGE((out_ok && lse_ok), "out.npy / lse.npy are missing or of the wrong size after the run");
    return parse_report(WEXITSTATUS(ws), slurp(err));
  };
  rel::run_table(e);
}
