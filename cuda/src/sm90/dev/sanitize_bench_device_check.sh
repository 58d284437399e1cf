#!/usr/bin/env bash
# sanitize_bench_device_check.sh - one GPU call that validates CUDA changes
# made without a GPU (third session: non-aligned named barriers, the shared-
# memory vote, the planner's page-check kernel and PDL, the combine's early
# exit) and measures them:
#   1. tools/gpu-check (build, cuda suite, mla demo/run, compute-sanitizer
#      memcheck / racecheck / synccheck of the sanitizer subset, all kernels)
#   2. tests/reliability/gpu_sanitize.sh (reliability tables under the three tools)
#   3. Nsight Compute durations of page check / planner / decode / combine
#      (B=128 kv=4096 H16 q1, pages 64 and 1), default and MLA_PLANNER=legacy
#   4. mla bench --sweep issue5, graph and eager (default), and the page /
#      split configs with MLA_PLANNER=legacy in the same run
# Run from the repository root on the GPU machine after `source
# .device/enter.sh`; every step under `timeout`; logs in one archive.
set -u
OUT_DIR=${OUT:-$PWD/sanbench-out}/sanbench
mkdir -p "$OUT_DIR"
export PATH=/usr/local/cuda/bin:$PATH
T0=$(date +%s)
step() {  # step NAME LIMIT CMD...
  local name=$1 limit=$2
  shift 2
  local start=$(date +%s)
  timeout "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1
  local rc=$?
  echo "== $name rc=$rc after $(($(date +%s) - start))s (total $(($(date +%s) - T0))s)"
}
B=build-gpu
step gpu-check 300 env OUT="$OUT_DIR" MLA_GPU_CHECK_SUITES=cuda MLA_GPU_CHECK_TIMEOUT=150 tools/gpu-check $B
sed -n '/=== summary/,$p' "$OUT_DIR/gpu-check.log"
step gpu-sanitize 150 env OUT="$OUT_DIR" bash tests/reliability/gpu_sanitize.sh $B
cat "$OUT_DIR/gpu-sanitize.log"
for cfg in b128_kv4096_h16_q1_p64 b128_kv4096_h16_q1_p1; do
  for pl in default legacy; do
    step "ncu-$cfg-$pl" 60 env MLA_PLANNER=$([ $pl = legacy ] && echo legacy) ncu --clock-control none \
      --section SpeedOfLight -k 'regex:page_check|planner|decode|combine' --launch-count 8 \
      $B/tools/mla bench --sweep issue5 --only $cfg --mode eager --min-runs 1 --max-runs 1 --warmup 1 --check-gflop 0
    grep -E "^  [a-zA-Z_: <>]+.*\(|^    Duration" "$OUT_DIR/ncu-$cfg-$pl.log" | sed 's/(.*//' | paste - - | sort | uniq |
      sed "s/^/   | $pl /" | cut -c1-150
  done
done
step bench 200 $B/tools/mla bench --sweep issue5 --mode graph,eager --min-runs 20 --target-ms 40 \
  --json "$OUT_DIR/bench.jsonl" --commit "${MLA_COMMIT:-unknown}"
sed -n '/^config/,$p' "$OUT_DIR/bench.log"
step bench-legacy 60 env MLA_PLANNER=legacy $B/tools/mla bench --sweep issue5 --mode graph --min-runs 20 --target-ms 40 \
  --only b128_kv4096_h16_q1_p64,b128_kv4096_h16_q1_p1,b1_kv65536_h16_q1_p64,uneven_b4_h16_q4 \
  --json "$OUT_DIR/bench-legacy.jsonl" --commit "${MLA_COMMIT:-unknown}-legacy-planner"
sed -n '/^config/,$p' "$OUT_DIR/bench-legacy.log"
tar czf "$OUT_DIR/../sanbench-logs.tgz" -C "$OUT_DIR" . && cp "$OUT_DIR/bench.jsonl" "$OUT_DIR/../bench.jsonl" &&
  rm -rf "$OUT_DIR"
echo "total $(($(date +%s) - T0))s"
