#!/usr/bin/env bash
# coopmat_device_check.sh - the first GPU run of the cooperative-matrix decode
# (vulkan/shaders/decode_cm.comp) on the NVIDIA Vulkan driver.
#
# Run from the repository root on the GPU machine:
#   source .device/enter.sh; bash vulkan/dev/coopmat_device_check.sh
# Builds a fresh release tree (Vulkan only), then, each step under `timeout`
# and the whole run under ~3 minutes (a step gets what is left of the budget):
#   1. build
#   2. the coopmat test cases (own contexts: native, and the emulated build)
#   3. the suite's bench (tests/vulkan/test_bench.cpp): B=128 kv=4096 q=1,
#      H=16 BF16 / FP8 and H=128 BF16, FP32 decode vs coopmat N=32 vs N=16,
#      splits 1, 2, 4, 8, auto, with the device copy measured in the same run
#      (the % of copy of issue 3; `mla bench` has it only from CUDA)
#   4. mla bench --sweep issue3 with the FP32 decode and with the coopmat one
#   5. the whole Vulkan suite with MLA_VULKAN_COOPMAT=1 (minus step 2's cases)
#   6. the reliability suite (NaN / Inf, FP8 stress, faults, determinism)
#      with MLA_VULKAN_COOPMAT=1
# Logs: $OUT/coopmat/<step>.log, `mla bench` results also as JSON lines in
# $OUT/coopmat/bench.jsonl, a summary in $OUT/coopmat/summary.txt. Exit
# status: the number of failed steps.
set -u
# step NAME LIMIT_S CMD..., step_init (check_step.sh)
source "$(dirname "$0")/check_step.sh"
step_init coopmat 175
BUILD=build-coopmat-check

# Lines of a log that go into the summary.
TESTS='vulkan device|cooperative-matrix decode|decode coopmat|not run|test cases|assertions|ERROR|FATAL'
PATTERN=$TESTS

bench() {  # bench NAME ENV... : mla bench --sweep issue3 with those variables
  local name=$1
  shift
  PATTERN='eager vulkan|error|rror:'
  step "$name" 30 env "$@" "$BUILD/tools/mla" bench --backend vulkan --sweep issue3 --json "$OUT_DIR/bench.jsonl" \
    --card-info "$name"
  PATTERN=$TESTS
}

rm -rf "$BUILD"
step build 100 bash -c "meson setup $BUILD -Dcuda=disabled -Dbuildtype=release && ninja -C $BUILD" || {
  tail -n 40 "$OUT_DIR/build.log"
  exit 1
}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT_DIR/nvidia-smi.txt" 2>&1 || true

# The driver's statistics of every pipeline (registers, spills: is the H=16
# decode, FP32 and coopmat alike stuck at ~1.3 ms, spilling?).
PATTERN='mla vulkan pipeline'
step pipeline-stats-fp32 20 env MLA_VULKAN_PIPELINE_STATS=1 MLA_VULKAN_COOPMAT=0 "$BUILD/tests/vulkan/test_vulkan" -tc='api: device name and info'
step pipeline-stats-coopmat 20 env MLA_VULKAN_PIPELINE_STATS=1 MLA_VULKAN_COOPMAT=1 "$BUILD/tests/vulkan/test_vulkan" -tc='api: device name and info'
PATTERN=$TESTS
step coopmat-cases 45 env MLA_VULKAN_MATRIX_COUNT=48 "$BUILD/tests/vulkan/test_vulkan" -tc='coopmat*'
PATTERN="$TESTS|^== |device copy|best|vs fp32"
step bench-suite 60 env MLA_VULKAN_BENCH=1 "$BUILD/tests/vulkan/test_vulkan" -tc='bench: the coop*'
PATTERN=$TESTS
bench mla-bench-fp32 MLA_VULKAN_COOPMAT=0
bench mla-bench-coopmat MLA_VULKAN_COOPMAT=1
step suite-coopmat 40 env MLA_VULKAN_COOPMAT=1 "$BUILD/tests/vulkan/test_vulkan" -tce='coopmat*'
step reliability-coopmat 40 env MLA_VULKAN_COOPMAT=1 "$BUILD/tests/reliability/test_reliability_vulkan"

echo "== total $(($(date +%s) - T0))s, failed steps: $FAILED" | tee -a "$SUMMARY"
# The device tool brings back at most 8 files: the summary and one archive.
cp "$SUMMARY" "$OUT_DIR/../coopmat-summary.txt"
tar czf "$OUT_DIR/../coopmat-logs.tgz" -C "$OUT_DIR" . && rm -rf "$OUT_DIR"
exit "$FAILED"
