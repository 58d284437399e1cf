#!/usr/bin/env bash
# tools/device/env_ab_check.sh - one build, then a kernel switch that is read
# from the environment tested and timed in the same binary: the cuda suite
# and racecheck / synccheck of the sanitizer subset with ENV_B, then the bench
# configs with ENV_A and ENV_B, in turn, twice.
#   ENV_A / ENV_B   "VAR=value" (one variable each), e.g. MLA_SM90_MULTICAST=0 / =1
#   ONLY            issue5 config names (default: the compute-bound ones and H16)
#   EXTRA_TESTS     doctest -tc filter run under ENV_B with racecheck too (optional)
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/envab-summary.txt; logs: $OUT/envab-logs.tgz.
set -u
# The build that runs the cuda suite has Vulkan on: without it the suite's
# CUDA vs Vulkan test is skipped without a word (tenth session).
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='test cases|SUMMARY|ERROR|FAILED|error|graph sm90|rc=|multicast'
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
step_init envab "${ENVAB_BUDGET:-560}"
B=build-envab
A_ENV=${ENV_A:?ENV_A=VAR=value}
B_ENV=${ENV_B:?ENV_B=VAR=value}
step build 200 bash -c "meson setup $B -Dcuda=enabled -Dvulkan=enabled -Dnvcc_archs=90a -Dbuildtype=release && ninja -C $B tests/cuda/test_cuda tools/mla"
step suite 200 env "$B_ENV" $B/tests/cuda/test_cuda
san=(compute-sanitizer --error-exitcode 1 --print-limit 10)
step racecheck 90 env "$B_ENV" "${san[@]}" --tool racecheck --racecheck-report hazard $B/tests/cuda/test_cuda -tc="*sanitizer subset*${EXTRA_TESTS:+,$EXTRA_TESTS}"
step synccheck 90 env "$B_ENV" "${san[@]}" --tool synccheck $B/tests/cuda/test_cuda -tc="*sanitizer subset*${EXTRA_TESTS:+,$EXTRA_TESTS}"
ONLY=${ONLY:-b128_kv4096_h16_q1_p64,b128_kv4096_h128_q1_p64,b128_kv4096_h64_q2_p64,b128_kv4096_h128_q2_p64,b32_kv8192_h128_q1_p64}
BENCH=(bench --sweep issue5 --only "$ONLY" --mode graph --min-runs 20 --target-ms 40)
for k in a b a2 b2; do
  case $k in a*) E=$A_ENV ;; *) E=$B_ENV ;; esac
  step "bench-$k" 60 env "$E" $B/tools/mla "${BENCH[@]}" --json "$OUT_DIR/bench-$k.jsonl" --commit "${MLA_COMMIT:-unknown}-$k"
done
step_finish envab
