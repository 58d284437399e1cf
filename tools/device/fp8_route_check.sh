#!/usr/bin/env bash
# tools/device/fp8_route_check.sh BUILD_DIR - the quick GPU check of the
# sm_90a fp8-KV route (MLA_SM90_FP8=1) that decides whether it may become the
# default: the cuda suite (worst error / tolerance per pair), the reliability
# tables it touches, racecheck / synccheck of the sanitizer subset, and
# `mla bench --sweep fp8` (graph) against the BF16 baselines. ~100 s on an
# H200. Run from the repository root after `source .device/enter.sh`.
set -u
B=${1:-build-gpu}
export MLA_SM90_FP8=1 PATH=/usr/local/cuda/bin:$PATH
echo "-- cuda suite, MLA_SM90_FP8=1"
timeout 60 "$B/tests/cuda/test_cuda" 2>&1 | grep -E "worst error / tolerance fp8|worst error / tolerance bf16/fp8|test cases|ERROR" |
  sed 's/^ *//' | sort | uniq -c | sort -rn | head -n 24
echo "-- reliability (nan, fp8 stress, device faults)"
timeout 15 "$B/tests/reliability/test_reliability_cuda" -tc='nan*,fp8 stress*,device faults*' 2>&1 |
  grep -E "test cases|ERROR" | sort | uniq -c | head
for tool in racecheck synccheck; do
  echo "-- $tool, sanitizer subset"
  timeout 15 compute-sanitizer --tool $tool --error-exitcode 1 "$B/tests/cuda/test_cuda" -tc='*sanitizer subset*' 2>&1 |
    grep -E "SUMMARY|test cases"
done
echo "-- mla bench --sweep fp8 (graph)"
timeout 40 "$B/tools/mla" bench --sweep fp8 --mode graph --min-runs 20 --target-ms 30 \
  --json "${OUT:-.}/bench-fp8.jsonl" --commit "${MLA_COMMIT:-unknown}-fp8route" 2>&1 | sed -n '/^config/,$p'
