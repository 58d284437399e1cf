// tools/commands.h - the subcommands of `mla`.
//
// Each subcommand lives in its own file, tools/cmd_<name>.cpp, and has one
// row in the dispatch table of tools/main.cpp. Adding one takes one line in
// each of three places: its declaration below, its row in kCommands, and its
// file in tools/meson.build.
//
// A command receives argv with argv[0] = its own name and returns the exit
// status of the process (the kExit* values).
#pragma once

#include <cstdio>

#include "mla/status.h"

namespace mla::tools {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // bad input, a backend error, a check that failed
constexpr int kExitUsage = 2;    // wrong options

int cmd_run(int argc, char** argv);
int cmd_demo(int argc, char** argv);
int cmd_bench(int argc, char** argv);

// Prints "mla <command>: <code>: <message>" to stderr and returns `code`.
inline int report(const char* command, const Status& st, int code = kExitFailure) {
  std::fprintf(stderr, "mla %s: %s\n", command, st.to_string().c_str());
  return code;
}

}  // namespace mla::tools
