#!/usr/bin/env bash
# CI, issue 7 (called by .ci/run after the main test command): sanitizers and
# fuzzing on a 2-core Debian 12 machine without a GPU, in about 10 minutes.
#
#  1. An ASan + UBSan build (build-asan: -Db_sanitize=address,undefined,
#     CUDA off) of the CPU suites and of the Vulkan suites on lavapipe with
#     the validation layer on; halt on the first error, leaks detected.
#     Third-party leaks (Mesa, LLVM, the Vulkan loader) are suppressed by
#     tests/reliability/lsan.supp, which says why.
#  2. The libFuzzer targets of fuzz/ (clang 14), each for RELIABILITY_FUZZ_SECONDS
#     (default 60) on its committed seed corpus: no crash, leak, UB or hang.
#
# Environment: RELIABILITY_FUZZ_SECONDS, RELIABILITY_ASAN_DIR (default
# build-asan), RELIABILITY_FUZZ_DIR (default build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
stamp() { echo "reliability: $1 ($(( $(date +%s) - t0 )) s)"; }

# clang and its runtimes (libFuzzer, ASan, UBSan) for the fuzz targets; GCC's
# libasan comes with build-essential.
PACKAGES=(clang-14 libclang-rt-14-dev)
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
stamp "packages ready"

# --- 1. ASan + UBSan -------------------------------------------------------
asan=${RELIABILITY_ASAN_DIR:-build-asan}
if [ -f "$asan/build.ninja" ]; then
  meson setup --reconfigure "$asan" >/dev/null
else
  # -O1 keeps the build short and the stacks exact; -g1 gives file:line.
  meson setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false -Dcuda=disabled \
    -Dbuildtype=plain -Doptimization=1 -Dcpp_args=-g1 >/dev/null
fi
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/tests/reliability/lsan.supp:print_suppressions=0
CPU_TESTS=(tools unit reference reliability-reference)
# Tests that reach lavapipe (npy_crosscheck runs `mla run --backend vulkan`).
# One lavapipe width: the two differ in lavapipe's JIT only, which ASan does not
# instrument; our host code runs the same in both.
VULKAN_TESTS=(npy_crosscheck vulkan-lavapipe-w128 reliability-vulkan-lavapipe)
meson compile -C "$asan" >/dev/null
stamp "ASan+UBSan build done"
meson test -C "$asan" --no-rebuild --print-errorlogs "${CPU_TESTS[@]}"
# The Vulkan loader dlcloses lavapipe at vkDestroyInstance, before
# LeakSanitizer symbolises; preloaded (after the ASan runtime, which must come
# first), lavapipe stays mapped and its frames keep the names lsan.supp uses.
lvp=$(ls /usr/lib/*/libvulkan_lvp.so 2>/dev/null | head -n1 || true)
if [ -n "$lvp" ]; then
  meson test -C "$asan" --no-rebuild --print-errorlogs \
    --wrapper "env LD_PRELOAD=$(gcc -print-file-name=libasan.so):$lvp" "${VULKAN_TESTS[@]}"
else
  echo "reliability: lavapipe (mesa-vulkan-drivers) is missing: the Vulkan tests did not run under ASan" >&2
  exit 1
fi
stamp "ASan+UBSan tests passed: ${#CPU_TESTS[@]} CPU and ${#VULKAN_TESTS[@]} Vulkan (lavapipe) tests"

# --- 2. libFuzzer ------------------------------------------------------------
fz=${RELIABILITY_FUZZ_DIR:-build-fuzz}
fuzz/build.sh "$fz"
fuzz/run.sh "$fz" "${RELIABILITY_FUZZ_SECONDS:-60}"
stamp "fuzzing passed"
