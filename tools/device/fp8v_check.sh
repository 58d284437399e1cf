#!/usr/bin/env bash
# tools/device/fp8v_check.sh - first GPU check of the register-V fp8-KV
# kernel (cuda/src/sm90/sm90_fp8v_*.cuh): one build, then the cuda suite
# (default keys, and with MLA_SM90_FP8_SMALLH=0 so that H16 q1 takes the
# M = 64 route too), the CUDA reliability tables, racecheck / synccheck of
# the sanitizer subset, the SASS of the kernel (QGMMA / HGMMA counts), and
# the fp8 bench sweep with MLA_SM90_FP8V=0 (the FP16-copy kernel) and =1, in
# turn, twice.
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/fp8v-summary.txt; logs: $OUT/fp8v-logs.tgz.
set -u
# The build that runs the cuda suite has Vulkan on: without it the suite's
# CUDA vs Vulkan test is skipped without a word (tenth session).
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='test cases|SUMMARY|ERROR|FAILED|error|graph sm90|rc=|GMMA|spill|fp8|worst'
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
step_init fp8v "${FP8V_BUDGET:-570}"
B=build-fp8v
step build 220 bash -c "meson setup $B -Dcuda=enabled -Dvulkan=enabled -Dnvcc_archs=90a -Dbuildtype=release && ninja -C $B tests/cuda/test_cuda tests/reliability/test_reliability_cuda tools/mla"
step sass 30 bash -c "cuobjdump -sass -fun '_ZN3mla9cuda_impl4sm9018decode_fp8v_kernelENS0_12DecodeParamsE14CUtensorMap_sti' $B/cuda/libmla_cuda.a | grep -oE '(QGMMA|HGMMA)[.A-Z0-9x]*' | sort | uniq -c"
step suite 120 $B/tests/cuda/test_cuda
step suite-smallh0 120 env MLA_SM90_FP8_SMALLH=0 $B/tests/cuda/test_cuda
step reliability-cuda 60 $B/tests/reliability/test_reliability_cuda
san=(compute-sanitizer --error-exitcode 1 --print-limit 10)
step racecheck 90 "${san[@]}" --tool racecheck --racecheck-report hazard $B/tests/cuda/test_cuda -tc="*sanitizer subset*"
step synccheck 90 "${san[@]}" --tool synccheck $B/tests/cuda/test_cuda -tc="*sanitizer subset*"
BENCH=(bench --sweep fp8 --mode graph --min-runs 20 --target-ms 30)
for k in a b a2 b2; do
  case $k in a*) E=MLA_SM90_FP8V=0 ;; *) E=MLA_SM90_FP8V=1 ;; esac
  step "bench-$k" 60 env "$E" $B/tools/mla "${BENCH[@]}" --json "$OUT_DIR/bench-$k.jsonl" --commit "${MLA_COMMIT:-unknown}-$k"
done
step_finish fp8v
