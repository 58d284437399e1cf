#!/usr/bin/env bash
# tools/device/planner_profile.sh - where the planner kernel's ~7 us go (issue 5:
# page check + planner sit on every graph replay's critical path, ~7 us whatever
# the batch; the thirteenth session's 32-bit divisions changed nothing). One
# eager call of B1 kv65536 and of B128 kv4096 H16 under ncu: SpeedOfLight
# (elapsed vs SM active cycles), launch stats, warp states, and the per-SASS
# stall samples of planner_kernel and page_check_kernel (source page, CSV).
# Usage, from the repository root on the GPU machine after
# `source .device/enter.sh`: bash tools/device/planner_profile.sh BUILD_DIR
# Summary: $OUT/planprof-summary.txt; reports and CSVs: $OUT/planprof-logs.tgz.
set -u
export PATH=/usr/local/cuda/bin:$PATH
B=${1:-build-new}
TOP=${OUT:-$PWD/planprof-out}
D=$TOP/planprof
mkdir -p "$D"
SUM=$TOP/planprof-summary.txt
: > "$SUM"
for c in b1_kv65536_h16_q1_p64 b128_kv4096_h16_q1_p64; do
  echo "== $c" | tee -a "$SUM"
  timeout 120 ncu --clock-control none --section SpeedOfLight --section LaunchStats --section WarpStateStats \
    --section SourceCounters --warp-sampling-interval 0 -k 'regex:planner|page_check' --launch-count 2 \
    -o "$D/$c" "$B/tools/mla" bench --sweep issue5 --only "$c" --mode eager --min-runs 1 --max-runs 1 --warmup 1 \
    --check-gflop 0 > "$D/$c-run.log" 2>&1
  echo "   rc=$?" | tee -a "$SUM"
  timeout 60 ncu -i "$D/$c.ncu-rep" --print-details all > "$D/$c-details.txt" 2>&1
  grep -E 'planner_kernel|page_check_kernel|Duration|Elapsed Cycles|SM Active Cycles|Warp Cycles Per Issued|Issued Warp|Stall|Registers Per|Avg. Active Threads' \
    "$D/$c-details.txt" | cut -c1-150 | tee -a "$SUM"
  timeout 60 ncu -i "$D/$c.ncu-rep" --page source --csv --print-source sass -k regex:planner > "$D/$c-planner-sass.csv" 2>&1
  echo "   source page rc=$? lines $(wc -l < "$D/$c-planner-sass.csv")" | tee -a "$SUM"
done
tar czf "$TOP/planprof-logs.tgz" -C "$D" . && rm -rf "$D"
