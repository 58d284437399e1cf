// `mla run`: one problem from files through one backend, result to files.
// This is how a numpy or PyTorch user feeds the library without C++; the file
// contract is in tools/problem_io.h and README.md.
#include <cstdio>
#include <string>

#include "args.h"
#include "backend.h"
#include "commands.h"
#include "mla/validate.h"
#include "problem_io.h"

namespace mla::tools {

namespace {

const char kUsage[] =
    "usage: mla run --inputs DIR --out DIR [--backend reference|cuda|vulkan]\n"
    "\n"
    "Reads DIR/problem.json and the .npy inputs, runs the decode on the backend\n"
    "(default: reference, the float64 CPU oracle) and writes out.npy (float32\n"
    "[total_q, H, 512]) and lse.npy (float32 [total_q, H]) to the --out DIR.\n"
    "Exits 1 with a message naming the field, value and bound on bad input.\n";

}  // namespace

int cmd_run(int argc, char** argv) {
  Args args;
  Status st = Args::parse(argc, argv, {"inputs", "out", "backend"}, {"help"}, &args);
  if (!st.ok()) {
    std::fputs(kUsage, stderr);
    return report("run", st, kExitUsage);
  }
  if (args.has("help")) return std::fputs(kUsage, stdout), kExitOk;
  if (!args.has("inputs") || !args.has("out")) {
    std::fputs(kUsage, stderr);
    return report("run", invalid_argument("--inputs and --out are required"), kExitUsage);
  }
  Backend backend;
  const std::string name = args.get("backend", "reference");
  if (!parse_backend(name, &backend))
    return report("run", invalid_argument("--backend = '" + name + "' is not a backend (reference, cuda, vulkan)"),
                  kExitUsage);

  OwnedProblem p;
  st = load_problem(args.get("inputs"), &p);
  if (!st.ok()) return report("run", st);
  // The contract's own checks, before any backend is touched: the outputs are
  // allocated by the runner, so only their presence is vouched for here.
  float sentinel = 0;
  st = validate_host_problem(p.desc, p.data(), &sentinel, &sentinel);
  if (!st.ok()) return report("run", st);

  std::unique_ptr<Runner> runner;
  st = Runner::create(backend, &runner);
  if (!st.ok()) return report("run", st);
  RunOutput r;
  st = runner->run(p.desc, p.data(), &r);
  if (!st.ok()) return report("run", st);
  st = write_result(args.get("out"), p.desc, r.out.data(), r.lse.data());
  if (!st.ok()) return report("run", st);

  std::printf("mla run: %s (%s): B = %d, H = %d, total_q = %d: %.3f ms; wrote out.npy [%d, %d, 512] and lse.npy [%d, %d]\n",
              to_string(backend), runner->device().c_str(), p.desc.batch, p.desc.num_heads, p.desc.total_q,
              r.kernel_ms >= 0 ? r.kernel_ms : r.wall_ms, p.desc.total_q, p.desc.num_heads, p.desc.total_q,
              p.desc.num_heads);
  if (r.status_word != MLA_STATUS_OK) {  // host validation passed, so this is a backend fault
    char word[16];
    std::snprintf(word, sizeof word, "0x%x", r.status_word);
    return report("run", Status(StatusCode::internal, std::string("the device flagged requests (status word ") + word +
                                                          ") although host validation passed; outputs were written"));
  }
  return kExitOk;
}

}  // namespace mla::tools
