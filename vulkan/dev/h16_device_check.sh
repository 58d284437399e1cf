#!/usr/bin/env bash
# h16_device_check.sh - issue 3's H=16 speed goal on the NVIDIA Vulkan driver:
# the key-tile fetch variants (MLA_VULKAN_FETCH: run, the default; chunk, the
# fetch before it; none, a diagnostic without KV loads) of the FP32 and cooperative-matrix decodes
# (vulkan/README.md, "Speed at H=16: cost model and variants").
#
# Run from the repository root on the GPU machine:
#   source .device/enter.sh; bash vulkan/dev/h16_device_check.sh
# Builds a fresh Vulkan-only release tree (only the binary it runs), then,
# each step under `timeout` and the whole run under BUDGET = 130 s (a step
# gets what is left of the budget; the bench comes first):
#   1. build (tests/vulkan/test_vulkan)
#   2. the suite's variant bench (tests/vulkan/test_bench.cpp, "bench: H=16
#      decode variants"): B=128 kv=4096 q=1 H=16 BF16, splits 1 and auto, the default variants of test_bench.cpp (override:
#      MLA_VULKAN_BENCH_VARIANTS="name:VAR=v,VAR=v;..."), with the device
#      copy of the same run; each output against the first of its decode kind
#      (the chunk fetch must be 0 ULP from the default run fetch)
#   2b. cm-profile (<= 15 s): the clock profile of the coopmat tile loop
#      (MLA_VULKAN_CM_PROFILE=1, the *_pf builds; tile scan, named
#      explicitly, and fast scan, the default), BF16 H=16, splits 1 and
#      auto: per phase and warp, cycles per tile of workgroup 0 (vulkan/README.md, "Clock profile of the coopmat
#      tile loop", says how to read it against the plan's predictions)
#   3. the driver's pipeline statistics (registers, spills, shared memory) of
#      the FP32 and coopmat decodes (default fetch: run)
#   4. the Vulkan suite on the coopmat then the FP32 decode (minus the bench
#      and the coopmat-only cases; "api: MLA_VULKAN_FETCH=run does not change
#      a single bit" compares both fetches on FP32, emulated and native
#      coopmat)
#   5. with what is left: the bench on H=16 FP8 KV, cm (tile scan) / cm-chunk /
#      cm-none / cm-scanfast / fp32 (skipped, counted as failed, if the budget
#      is spent)
# The coopmat variants name MLA_VULKAN_CM_SCAN (tile or fast, the default
# since the H200 timing) so their numbers compare with earlier runs.
# Output: $OUT/h16-summary.txt and $OUT/h16-logs.tgz (every log).
# Exit status: the number of failed steps.
set -u
# step NAME LIMIT_S CMD..., step_init, step_finish (check_step.sh)
source "$(dirname "$0")/check_step.sh"
step_init h16 130
BUILD=build-h16-check

TESTS='vulkan device|not run|test cases|assertions|ERROR|FATAL'
PATTERN=$TESTS

STEP_LINES=80

rm -rf "$BUILD"
step build 60 bash -c "meson setup $BUILD -Dcuda=disabled -Dbuildtype=release && ninja -C $BUILD tests/vulkan/test_vulkan" || {
  tail -n 40 "$OUT_DIR/build.log"
  FAILED=$((FAILED + 1))
  step_finish h16
}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT_DIR/nvidia-smi.txt" 2>&1 || true
git rev-parse HEAD > "$OUT_DIR/commit.txt" 2>&1 || true

TV=$BUILD/tests/vulkan/test_vulkan
PATTERN="$TESTS|^== |device copy|variant "
step bench-variants 40 env MLA_VULKAN_BENCH=1 MLA_VULKAN_BENCH_REPS=5 MLA_VULKAN_BENCH_H16_ONLY=1 \
  MLA_VULKAN_BENCH_FP8=0 "$TV" -tc='bench: H=16 decode variants*'

# Clock profile (the table rows start with two spaces).
PATTERN="$TESTS|^== |variant |^  "
step cm-profile 15 env MLA_VULKAN_BENCH=1 MLA_VULKAN_BENCH_REPS=3 MLA_VULKAN_BENCH_COPY_MIB=256 MLA_VULKAN_BENCH_H16_ONLY=1 MLA_VULKAN_BENCH_FP8=0 \
  MLA_VULKAN_BENCH_VARIANTS="cm-profile:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_CM_SCAN=tile,MLA_VULKAN_CM_PROFILE=1;cm-scanfast-profile:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_CM_SCAN=fast,MLA_VULKAN_CM_PROFILE=1" \
  "$TV" -tc='bench: H=16 decode variants*'

INFO='api: device name and info'
PATTERN='mla vulkan pipeline.*decode.*(egister|ocal|hared)'
step stats-fp32 8 env MLA_VULKAN_PIPELINE_STATS=1 MLA_VULKAN_COOPMAT=0 "$TV" -tc="$INFO"
step stats-coopmat 8 env MLA_VULKAN_PIPELINE_STATS=1 MLA_VULKAN_COOPMAT=1 "$TV" -tc="$INFO"

PATTERN=$TESTS
step suite-coopmat 20 env MLA_VULKAN_COOPMAT=1 "$TV" -tce='bench*,coopmat*'
step suite-fp32 15 env MLA_VULKAN_COOPMAT=0 "$TV" -tce='bench*,coopmat*'

# FP8 KV, with what is left.
PATTERN="$TESTS|^== |device copy|variant "
step bench-fp8 30 env MLA_VULKAN_BENCH=1 MLA_VULKAN_BENCH_REPS=3 MLA_VULKAN_BENCH_H16_ONLY=1 MLA_VULKAN_BENCH_BF16=0 \
  MLA_VULKAN_BENCH_VARIANTS="cm:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_CM_SCAN=tile;cm-chunk:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_FETCH=chunk;cm-none:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_FETCH=none;cm-scanfast:MLA_VULKAN_COOPMAT=1,MLA_VULKAN_CM_SCAN=fast;fp32:MLA_VULKAN_COOPMAT=0" \
  "$TV" -tc='bench: H=16 decode variants*'
step_finish h16
