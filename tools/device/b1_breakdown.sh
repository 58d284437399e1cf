#!/usr/bin/env bash
# tools/device/b1_breakdown.sh - where one long request's time goes (issue 5's
# B1 kv65536 at ~41% of copy, issue 6's B1 kv131072 fp8 at ~44%): each
# kernel of one call (page check, planner, decode, combine) under ncu
# (Duration, DRAM throughput, SM throughput), the eager and graph times of the
# same configs beside it. The gap between the decode kernel and the graph time
# is launch and dependency overhead; the decode against its bytes says how far
# the per-CTA chain is from the copy rate.
# Usage, from the repository root on the GPU machine after
# `source .device/enter.sh`: bash tools/device/b1_breakdown.sh BUILD_DIR
# (a build with tools/mla). Summary: $OUT/b1-summary.txt; ncu logs: $OUT/b1-logs.tgz.
set -u
export PATH=/usr/local/cuda/bin:$PATH
B=${1:-build-session}
TOP=${OUT:-$PWD/b1-out}
OUT_DIR=$TOP/b1
mkdir -p "$OUT_DIR"
SUMMARY=$TOP/b1-summary.txt
: > "$SUMMARY"
run() {  # run SWEEP CONFIG
  echo "== $2 (sweep $1)" | tee -a "$SUMMARY"
  for mode in graph eager; do
    timeout 60 "$B/tools/mla" bench --sweep "$1" --only "$2" --mode "$mode" --min-runs 20 --target-ms 30 2>&1 |
      grep -E "^  $2 " | tee -a "$SUMMARY"
  done
  # warm-up 1 + 1 timed call: every kernel of two calls.
  timeout 90 ncu --clock-control none --section SpeedOfLight -k 'regex:page_check|planner|decode|combine' \
    --launch-count 8 "$B/tools/mla" bench --sweep "$1" --only "$2" --mode eager --min-runs 1 --max-runs 1 \
    --warmup 1 --check-gflop 0 > "$OUT_DIR/ncu-$2.log" 2>&1
  grep -E "Context [0-9]|Duration|DRAM Throughput|Compute \(SM\) Throughput" "$OUT_DIR/ncu-$2.log" |
    sed -E 's/, Context.*//' | cut -c1-160 | tee -a "$SUMMARY"
}
run issue5 b1_kv65536_h16_q1_p64
run fp8 b1_kv131072_h16_q1_p64
run fp8 b1_kv131072_h16_q1_p64_fp8fp8
tar czf "$TOP/b1-logs.tgz" -C "$OUT_DIR" . && rm -rf "$OUT_DIR"
