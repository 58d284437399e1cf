#!/usr/bin/env bash
# tools/device/fp8v_final.sh - the checks a change of the fp8-KV kernels'
# defaults needs, in ~200 s: build (cuda + vulkan, for the CUDA vs Vulkan
# test), the cuda suite with the default keys and with MLA_SM90_FP8_SMALLH=0
# (every (fp8, fp8) problem on the M = 64 kernel), the CUDA reliability
# tables twice (fresh seeds), racecheck / synccheck of the sanitizer subset,
# and the fp8 bench sweep (graph) -> $OUT/fp8.jsonl.
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/fp8vf-summary.txt; logs: $OUT/fp8vf-logs.tgz.
set -u
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='test cases|ERROR|FAILED|graph sm90|rc=|fp8_rope640/fp8_rope640 auto|SUMMARY'
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
STEP_LINES=30
step_init fp8vf "${FP8VF_BUDGET:-480}"
B=build-fp8vf
step build 200 bash -c "meson setup $B -Dcuda=enabled -Dvulkan=enabled -Dnvcc_archs=90a -Dbuildtype=release > /dev/null && ninja -C $B tests/cuda/test_cuda tests/reliability/test_reliability_cuda tools/mla"
step suite 120 $B/tests/cuda/test_cuda
step suite-smallh0 120 env MLA_SM90_FP8_SMALLH=0 $B/tests/cuda/test_cuda
step reliability-1 60 $B/tests/reliability/test_reliability_cuda
step reliability-2 60 $B/tests/reliability/test_reliability_cuda
san=(compute-sanitizer --error-exitcode 1 --print-limit 10)
step racecheck 60 "${san[@]}" --tool racecheck --racecheck-report hazard $B/tests/cuda/test_cuda -tc="*sanitizer subset*"
step synccheck 60 "${san[@]}" --tool synccheck $B/tests/cuda/test_cuda -tc="*sanitizer subset*"
step fp8-bench 60 $B/tools/mla bench --sweep fp8 --mode graph --min-runs 20 --target-ms 40 --json "${OUT:-.}/fp8.jsonl" --commit "${MLA_COMMIT:-unknown}"
step_finish fp8vf
