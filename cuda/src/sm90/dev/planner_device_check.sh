#!/usr/bin/env bash
# planner_device_check.sh - GPU check and timing of the planner / combine change
# (docs/perf_notes.md, "Helper, 2026-11-27: where B=1 kv=65536 loses 80 us").
# Run from the repository root on the GPU machine after `source .device/enter.sh`;
# logs and JSON go to $OUT. Every step runs under `timeout`; the whole script
# stays under ~3 minutes (each step's limit is cut to what is left of 175 s).
#   1. build (release, sm_90a) of tools/mla and tests/cuda/test_cuda
#   2. the new schedule / wide-combine / graph tests on the automatic kernel
#   3. mla bench of the five issue-5 configs with the default schedule, then
#      with MLA_PLANNER=legacy (same binary, two processes)
#   4. the whole cuda suite (timeout 120 or what is left)
set -u
OUT=${OUT:-$PWD/planner_check_out}
mkdir -p "$OUT"
B=${PLANNER_BUILD:-build-planner-check}
CONFIGS=b1_kv65536_h16_q1_p64,even_b4_h16_q4,uneven_b4_h16_q4,b128_kv4096_h128_q1_p64,b128_kv4096_h16_q1_p64
START=$SECONDS
BUDGET=175
step() {  # step NAME CAP_SECONDS command...
  local name=$1 cap=$2
  shift 2
  local left=$((BUDGET - (SECONDS - START)))
  local t=$((cap < left ? cap : left))
  if [ "$t" -le 5 ]; then echo "== $name: skipped (time budget spent)"; return 124; fi
  echo "== $name (timeout ${t}s)"
  local s=$SECONDS
  timeout "$t" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "   rc=$rc after $((SECONDS - s)) s"
  tail -n 25 "$OUT/$name.log"
  return $rc
}
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,driver_version --format=csv > "$OUT/card.txt" 2>&1
step setup 30 meson setup "$B" -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release || exit 1
step build 100 ninja -C "$B" tools/mla tests/cuda/test_cuda || exit 1
step test_new 40 env MLA_TEST_KERNELS=auto "$B/tests/cuda/test_cuda" \
  -tc='*host mirror*,*wide combine*,*graph*,*reproducible*,*batch-invariant*'
BENCH_OPTS=(bench --sweep issue5 --only "$CONFIGS" --mode graph,eager --min-runs 20 --target-ms 60)
step bench_default 35 "$B/tools/mla" "${BENCH_OPTS[@]}" --json "$OUT/bench_default.jsonl"
step bench_legacy 35 env MLA_PLANNER=legacy "$B/tools/mla" "${BENCH_OPTS[@]}" --json "$OUT/bench_legacy.jsonl"
step test_cuda 120 "$B/tests/cuda/test_cuda"
echo "total $((SECONDS - START)) s; logs in $OUT"
