// `mla`: one executable, one subcommand per file (see tools/commands.h).
#include <cstdio>
#include <cstring>

#include "commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int argc, char** argv);
  const char* summary;
};

// The dispatch table: one row per subcommand.
const Command kCommands[] = {
    {"run", mla::tools::cmd_run, "run one problem from a directory of .npy files; write out.npy and lse.npy"},
    {"demo", mla::tools::cmd_demo, "a realistic decode batch on the best backend present, checked and timed"},
    {"bench", mla::tools::cmd_bench, "time the decode over a sweep next to the copy and GEMM limits (JSON lines)"},
};

void usage(std::FILE* f) {
  std::fprintf(f, "usage: mla <command> [options]   (mla <command> --help for its options)\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(f, "  %-8s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return mla::tools::kExitUsage;
  }
  const char* name = argv[1];
  if (!std::strcmp(name, "help") || !std::strcmp(name, "--help") || !std::strcmp(name, "-h")) {
    usage(stdout);
    return mla::tools::kExitOk;
  }
  for (const Command& c : kCommands)
    if (!std::strcmp(name, c.name)) return c.run(argc - 1, argv + 1);
  std::fprintf(stderr, "mla: unknown command '%s'\n", name);
  usage(stderr);
  return mla::tools::kExitUsage;
}
