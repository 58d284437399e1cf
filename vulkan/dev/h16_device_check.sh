#!/usr/bin/env bash
# h16_device_check.sh - issue 3's H=16 speed goal on the NVIDIA Vulkan driver:
# FP32 and cooperative-matrix decode variants, more workgroups per SM
# (vulkan/README.md, "Speed at H=16: cost model and variants").
#
# Run from the repository root on the GPU machine:
#   source .device/enter.sh; bash vulkan/dev/h16_device_check.sh
# Builds a fresh Vulkan-only release tree (only the two binaries it runs),
# then, each step under `timeout` and the whole run under ~165 s (a step gets
# what is left of the budget):
#   1. build (tests/vulkan/test_vulkan, tools/mla)
#   2. the driver's pipeline statistics (registers, spills, shared memory) of
#      the FP32 and coopmat decodes
#   3. the suite's variant bench (tests/vulkan/test_bench.cpp, "bench: H=16
#      decode variants"): B=128 kv=4096 q=1 H=16 BF16, splits 1 and auto,
#      the default variants of test_bench.cpp (override:
#      MLA_VULKAN_BENCH_VARIANTS="name:VAR=v,VAR=v;..."), with the device
#      copy of the same run
#   4. the Vulkan suite, coopmat then FP32 decode (minus the bench and the
#      coopmat-only cases)
#   5. mla bench --sweep issue3 (H=16 config), coopmat, as JSON
# Output: $OUT/h16-summary.txt and $OUT/h16-logs.tgz (every log, bench.jsonl).
# Exit status: the number of failed steps.
set -u
OUT_DIR=${OUT:-$PWD/h16-check-out}/h16
mkdir -p "$OUT_DIR"
BUILD=build-h16-check
BUDGET=165
T0=$(date +%s)
FAILED=0
SUMMARY=$OUT_DIR/summary.txt
: > "$SUMMARY"

TESTS='vulkan device|not run|test cases|assertions|ERROR|FATAL'
PATTERN=$TESTS

STEP_LINES=60
# step NAME LIMIT_S CMD... (check_step.sh)
source "$(dirname "$0")/check_step.sh"

finish() {
  echo "== total $(($(date +%s) - T0))s, failed steps: $FAILED" | tee -a "$SUMMARY"
  # The device tool brings back at most 8 files: the summary and one archive.
  cp "$SUMMARY" "$OUT_DIR/../h16-summary.txt"
  tar czf "$OUT_DIR/../h16-logs.tgz" -C "$OUT_DIR" . && rm -rf "$OUT_DIR"
  exit "$FAILED"
}

rm -rf "$BUILD"
step build 75 bash -c "meson setup $BUILD -Dcuda=disabled -Dbuildtype=release && ninja -C $BUILD tests/vulkan/test_vulkan tools/mla" || {
  tail -n 40 "$OUT_DIR/build.log"
  FAILED=$((FAILED + 1))
  finish
}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT_DIR/nvidia-smi.txt" 2>&1 || true
git rev-parse HEAD > "$OUT_DIR/commit.txt" 2>&1 || true

TV=$BUILD/tests/vulkan/test_vulkan
INFO='api: device name and info'
PATTERN='mla vulkan pipeline.*decode.*(egister|ocal|hared)'
step stats-fp32 10 env MLA_VULKAN_PIPELINE_STATS=1 MLA_VULKAN_COOPMAT=0 "$TV" -tc="$INFO"
step stats-coopmat 10 env MLA_VULKAN_PIPELINE_STATS=1 MLA_VULKAN_COOPMAT=1 "$TV" -tc="$INFO"

PATTERN="$TESTS|^== |device copy|variant "
step bench-variants 50 env MLA_VULKAN_BENCH=1 MLA_VULKAN_BENCH_REPS=5 MLA_VULKAN_BENCH_H16_ONLY=1 "$TV" \
  -tc='bench: H=16 decode variants*'

PATTERN=$TESTS
step suite-coopmat 25 env MLA_VULKAN_COOPMAT=1 "$TV" -tce='bench*,coopmat*'
step suite-fp32 20 env MLA_VULKAN_COOPMAT=0 "$TV" -tce='bench*,coopmat*'

PATTERN='eager vulkan|error|rror:'
step mla-bench-cm 15 env MLA_VULKAN_COOPMAT=1 "$BUILD/tools/mla" bench --backend vulkan \
  --sweep issue3 --only b128_kv4096_h16_q1_p64 --json "$OUT_DIR/bench.jsonl" --card-info cm
finish
