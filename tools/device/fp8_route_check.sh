#!/usr/bin/env bash
# tools/device/fp8_route_check.sh BUILD_DIR - the quick GPU check of the
# sm_90a fp8-KV route (MLA_SM90_FP8=1; the default since the fourth session,
# set here explicitly so the script checks the route whatever the default):
# the cuda suite (worst error / tolerance per pair), the reliability
# tables it touches, racecheck / synccheck of the sanitizer subset (the first
# 10 racecheck reports with their source lines: the library has -lineinfo),
# racecheck_probe.cu's modes 8 / 10 (a hand-off with barrier.sync on both
# sides / with barrier.arrive on one side, the form the kernel used up to
# 50157da), and `mla bench --sweep fp8` (graph) against the
# BF16 baselines. ~170 s on an H200. Run from the repository root after
# `source .device/enter.sh`; full sanitizer logs go to $OUT
# (fp8-racecheck.log, fp8-synccheck.log).
set -u
B=${1:-build-gpu}
O=${OUT:-.}
export MLA_SM90_FP8=1 PATH=/usr/local/cuda/bin:$PATH
echo "-- cuda suite, MLA_SM90_FP8=1"
timeout 100 "$B/tests/cuda/test_cuda" 2>&1 | grep -E "worst error / tolerance .*fp8|runs within tolerance|test cases|ERROR" |
  sed 's/^ *//' | sort | uniq -c | sort -rn | head -n 40
echo "-- reliability (nan, fp8 stress, device faults)"
timeout 15 "$B/tests/reliability/test_reliability_cuda" -tc='nan*,fp8 stress*,device faults*' 2>&1 |
  grep -E "test cases|ERROR" | sort | uniq -c | head
for tool in racecheck synccheck; do
  echo "-- $tool, sanitizer subset"
  extra=()
  [ "$tool" = racecheck ] && extra=(--racecheck-report hazard)
  timeout 45 compute-sanitizer --tool $tool "${extra[@]}" --print-limit 10 --error-exitcode 1 \
    "$B/tests/cuda/test_cuda" -tc='*sanitizer subset*' > "$O/fp8-$tool.log" 2>&1
  echo "exit $?"
  grep -E "SUMMARY|test cases" "$O/fp8-$tool.log"
  # The reports: kind and place of each hazard, then the two accesses with
  # their source lines (file:line:function).
  grep -E "hazard detected|Race reported|Barrier error|divergent|Thread \(.*\) at |access at " "$O/fp8-$tool.log" |
    sed -E 's/^=+ *//; s/\([^()]*DecodeParams.*$//' | head -n 60
done
echo "-- racecheck probe: modes 8 (sync on both sides) and 10 (barrier.arrive on one side), racecheck_probe.cu"
if timeout 60 nvcc -O2 -lineinfo -gencode=arch=compute_90a,code=sm_90a cuda/src/sm90/dev/racecheck_probe.cu \
    -o "$B/racecheck_probe" > "$O/fp8-probe.log" 2>&1; then
  for mode in 8 10; do
    "$B/racecheck_probe" $mode
    timeout 20 compute-sanitizer --tool racecheck --racecheck-report hazard --print-limit 4 "$B/racecheck_probe" $mode \
      2>&1 | grep -E "SUMMARY|hazard detected|Thread \(.*\) at " | sed -E 's/^=+ *//' | head -n 9
  done
else
  tail -n 5 "$O/fp8-probe.log"
fi
echo "-- mla bench --sweep fp8 (graph)"
timeout 40 "$B/tools/mla" bench --sweep fp8 --mode graph --min-runs 20 --target-ms 30 \
  --json "$O/bench-fp8.jsonl" --commit "${MLA_COMMIT:-unknown}-fp8route" 2>&1 | sed -n '/^config/,$p'
