#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined):
#   fuzz/build.sh OUT_DIR
# They compile the plain C++ of tools/ and common/ directly (no meson, no
# backends): fuzz_npy, fuzz_problem_json, fuzz_problem_dir.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: fuzz/build.sh OUT_DIR}
mkdir -p "$out/obj"
CXX=${CXX_FUZZ:-$(command -v clang++-14 || command -v clang++)}
# UB aborts like a crash (-fno-sanitize-recover); frame pointers for readable stacks.
FLAGS=(-std=c++17 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
       -fno-omit-frame-pointer -Wall -Wextra -Icommon/include -Itools)

SOURCES=(tools/npy.cpp tools/json.cpp tools/problem_json.cpp tools/problem_io.cpp
         common/src/types.cpp common/src/numeric.cpp common/src/validate.cpp common/src/reference.cpp
         fuzz/fuzz_npy.cpp fuzz/fuzz_problem_json.cpp fuzz/fuzz_problem_dir.cpp)
# Two compilations at a time (CI has 2 cores).
printf '%s\n' "${SOURCES[@]}" | xargs -P 2 -I{} sh -c \
  '"$0" "$@" -c {} -o "'"$out"'/obj/$(basename {} .cpp).o"' "$CXX" "${FLAGS[@]}"

link() {
  local name=$1; shift
  "$CXX" -fsanitize=fuzzer,address,undefined -pthread "$@" -o "$out/$name"
}
o="$out/obj"
link fuzz_npy "$o/fuzz_npy.o" "$o/npy.o" "$o/types.o"
link fuzz_problem_json "$o/fuzz_problem_json.o" "$o/json.o" "$o/problem_json.o" "$o/types.o" "$o/validate.o"
link fuzz_problem_dir "$o/fuzz_problem_dir.o" "$o/problem_io.o" "$o/npy.o" "$o/json.o" "$o/problem_json.o" \
  "$o/types.o" "$o/numeric.o" "$o/validate.o" "$o/reference.o"
echo "fuzz/build.sh: built fuzz_npy, fuzz_problem_json, fuzz_problem_dir in $out ($("$CXX" --version | head -n1))"
