#!/usr/bin/env bash
# ctx_timing.sh - issue 3: what Context::create costs on the NVIDIA Vulkan
# driver, phase by phase (instance, device, each pipeline), with the FP32 and
# the cooperative-matrix decode, with and without a warm pipeline cache file;
# then the whole Vulkan suite with MLA_VULKAN_COOPMAT=1 (it ran past a 60 s
# limit in the fourth session; vulkan/README.md, "Context creation time").
#
# Run from the repository root on the GPU machine (nothing else needed):
#   source .device/enter.sh; bash vulkan/dev/ctx_timing.sh
# Each step under `timeout`, the whole run under BUDGET = 140 s (a step gets
# at most what is left):
#   1. build (Vulkan only, release): vk_ctx_timing and tests/vulkan/test_vulkan
#   2. vk_ctx_timing --repeat 3 (three contexts in one process, a table of
#      ms per phase and creation): MLA_VULKAN_COOPMAT=0; =1 with a fresh
#      cache file (MLA_VULKAN_PIPELINE_CACHE, written by creation 1); =1 with
#      that file warm; =1 warm with the validation layer (as the suite runs)
#   3. the Vulkan suite (minus bench*) with MLA_VULKAN_COOPMAT=1 and
#      MLA_VULKAN_TIMING=1, line-buffered, doctest --duration=true: per test
#      case durations and the total of every context it creates
#   4. with what is left: =1 with the driver's own shader disk cache off
#      (__GL_SHADER_DISK_CACHE=0) and no file: the compile cost every time
# The driver's disk cache goes to a fresh folder of the build tree, so the
# first creation of step 2 is cold whatever ran on the machine before.
# Output: $OUT/ctx-summary.txt and $OUT/ctx-logs.tgz (every log). Exit
# status: the number of failed steps.
set -u
# step NAME LIMIT_S CMD..., step_init, step_finish (check_step.sh)
source "$(dirname "$0")/check_step.sh"
step_init ctx 140
BUILD=build-ctx-timing
STEP_LINES=60

rm -rf "$BUILD"
PATTERN='rror|FAILED'
step build 60 bash -c "meson setup $BUILD -Dcuda=disabled -Dvulkan=enabled -Dbuildtype=release && \
  ninja -C $BUILD vulkan/vk_ctx_timing tests/vulkan/test_vulkan" || {
  tail -n 40 "$OUT_DIR/build.log"
  step_finish ctx
}
nvidia-smi --query-gpu=name,driver_version --format=csv > "$OUT_DIR/nvidia-smi.txt" 2>&1 || true
echo "commit ${MLA_COMMIT:-$(git rev-parse HEAD 2>/dev/null)}" | tee -a "$SUMMARY"

export __GL_SHADER_DISK_CACHE_PATH=$PWD/$BUILD/nv-shader-cache
mkdir -p "$__GL_SHADER_DISK_CACHE_PATH"
CACHE=$PWD/$BUILD/pipeline-cache.bin
T=$BUILD/vulkan/vk_ctx_timing

PATTERN='.'  # the whole table
step fp32 10 env MLA_VULKAN_COOPMAT=0 "$T" --repeat 3
step coopmat-cold-file 20 env MLA_VULKAN_COOPMAT=1 MLA_VULKAN_PIPELINE_CACHE="$CACHE" "$T" --repeat 3
echo "   cache file: $(stat -c %s "$CACHE" 2>/dev/null || echo missing) bytes" | tee -a "$SUMMARY"
step coopmat-warm-file 10 env MLA_VULKAN_COOPMAT=1 MLA_VULKAN_PIPELINE_CACHE="$CACHE" "$T" --repeat 3
step coopmat-warm-validation 15 env MLA_VULKAN_COOPMAT=1 MLA_VULKAN_PIPELINE_CACHE="$CACHE" "$T" --repeat 2 --validation

# Per test case durations ("<seconds> s: <name>") and each context's total.
PATTERN='^[0-9.]+ s: |mla vulkan create: [0-9]|vulkan device|test cases|assertions|ERROR|FATAL'
STEP_LINES=120
step suite-coopmat 60 env MLA_VULKAN_COOPMAT=1 MLA_VULKAN_TIMING=1 stdbuf -oL -eL \
  "$BUILD/tests/vulkan/test_vulkan" -tce='bench*' --duration=true
STEP_LINES=60

PATTERN='.'
step coopmat-no-disk-cache 15 env MLA_VULKAN_COOPMAT=1 __GL_SHADER_DISK_CACHE=0 "$T" --repeat 2
step_finish ctx
