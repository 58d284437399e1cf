#!/usr/bin/env bash
# tools/device/fp8v_profile.sh - where the register-V fp8-KV kernel's time
# goes at H128 q2: the normal build's reliability tables and cuda suite (LSE
# margins printed), a MLA_SM90_FP8_PROFILE build's cycles a tile per phase
# (both consumer warpgroups, CTA 0), ncu's speed of light and warp states of
# one launch, and optional variant builds timed against the normal one
# (FP8V_VARIANTS="name:-DX=1 -DY=2 ..." as in ab_check.sh).
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/fp8vp-summary.txt; logs: $OUT/fp8vp-logs.tgz.
set -u
# The build that runs the cuda suite has Vulkan on: without it the suite's
# CUDA vs Vulkan test is skipped without a word (tenth session).
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='test cases|SUMMARY|ERROR|FAILED|error|graph sm90|eager sm90|rc=|fp8v profile|LSE|Duration|Throughput|Stall|Warp Cycles|Issued|Active|Eligible'
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
STEP_LINES=60
step_init fp8vp "${FP8VP_BUDGET:-570}"
CFG=b128_kv4096_h128_q2_p64_fp8fp8
setup() {  # setup DIR DEFINES
  meson setup "$1" -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release -Dcuda_args="$2" -Dcpp_args="$2" > /dev/null && ninja -C "$1" tools/mla
}
VARIANTS=("prof:-DMLA_SM90_FP8_PROFILE=1" ${FP8V_VARIANTS:-})
pids=()
for v in "${VARIANTS[@]}"; do
  ( setup "build-${v%%:*}" "${v#*:}" > "$OUT_DIR/build-${v%%:*}.log" 2>&1; echo "rc=$?" >> "$OUT_DIR/build-${v%%:*}.log" ) &
  pids+=($!)
done
step build 220 bash -c "meson setup build-fp8v -Dcuda=enabled -Dvulkan=enabled -Dnvcc_archs=90a -Dbuildtype=release > /dev/null && ninja -C build-fp8v tests/cuda/test_cuda tests/reliability/test_reliability_cuda tools/mla"
for p in "${pids[@]}"; do wait "$p"; done
grep -h "rc=" "$OUT_DIR"/build-*.log | sed 's/^/   | variant build /' | tee -a "$SUMMARY"
step reliability-cuda 60 build-fp8v/tests/reliability/test_reliability_cuda
step suite 120 build-fp8v/tests/cuda/test_cuda
step profile 40 build-prof/tools/mla bench --sweep fp8 --only "$CFG" --mode eager --min-runs 3 --target-ms 5
step ncu 90 ncu --clock-control none --section SpeedOfLight --section WarpStateStats --section SchedulerStats -k regex:decode_fp8v --launch-count 1 build-fp8v/tools/mla bench --sweep fp8 --only "$CFG" --mode eager --min-runs 1 --target-ms 1
BENCH=(bench --sweep fp8 --only "b128_kv4096_h128_q2_p64,$CFG,b128_kv4096_h128_q2_p64_bf16fp8" --mode graph --min-runs 20 --target-ms 30)
for r in 1 2; do
  for v in fp8v "${VARIANTS[@]:1}"; do
    n=${v%%:*}
    step "bench-$n-$r" 40 build-$n/tools/mla "${BENCH[@]}" --json "$OUT_DIR/bench-$n-$r.jsonl" --commit "${MLA_COMMIT:-unknown}-$n"
  done
done
step_finish fp8vp
