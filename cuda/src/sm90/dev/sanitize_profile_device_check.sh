#!/usr/bin/env bash
# sanitize_profile_device_check.sh - one GPU call (third session) that gets
# what the sm90 work of issues 4, 5 and 7 needs next, each step under its own
# timeout:
#   1. a release build (the library always has -lineinfo: reports name source lines)
#   2. racecheck and synccheck over the cuda suite's sanitizer subset, Hopper
#      kernel only, with the first reports printed in full
#   3. tests/reliability/gpu_sanitize.sh (memcheck of the fault / NaN / FP8 /
#      validation tables; racecheck + synccheck of faults and determinism)
#   4. Nsight Compute on one eager iteration of B=128 kv=4096 H16 q1 page 64
#      and page 1: duration of planner, decode and combine apart, and the
#      decode kernel's speed-of-light, occupancy and stall breakdown
# Run from the repository root on the GPU machine after `source
# .device/enter.sh`. Logs under $OUT/sanprof, archived into one file.
set -u
OUT_DIR=${OUT:-$PWD/sanprof-out}/sanprof
mkdir -p "$OUT_DIR"
export PATH=/usr/local/cuda/bin:$PATH
B=build-san
T0=$(date +%s)

step() {  # step NAME LIMIT CMD...
  local name=$1 limit=$2
  shift 2
  local start=$(date +%s)
  timeout "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1
  local rc=$?
  echo "== $name rc=$rc after $(($(date +%s) - start))s (total $(($(date +%s) - T0))s)"
  grep -E "SUMMARY|test cases|gpu_sanitize|Error|error" "$OUT_DIR/$name.log" | head -n 8 | sed 's/^/   | /'
}

step build 150 bash -c "meson setup $B -Dcuda=enabled -Dvulkan=enabled -Dnvcc_archs=90a -Dbuildtype=release && ninja -C $B"

t=$B/tests/cuda/test_cuda
san=(compute-sanitizer --error-exitcode 1 --print-limit 12)
step racecheck-sm90 150 env MLA_TEST_KERNELS=sm90 "${san[@]}" --tool racecheck --racecheck-report hazard \
  "$t" -tc='*sanitizer subset*'
step synccheck-sm90 120 env MLA_TEST_KERNELS=sm90 "${san[@]}" --tool synccheck "$t" -tc='*sanitizer subset*'
step gpu-sanitize 200 env OUT="$OUT_DIR" bash tests/reliability/gpu_sanitize.sh $B

ncu_run() {  # ncu_run NAME CONFIG
  step "ncu-$1" 90 ncu --clock-control none --section SpeedOfLight --section Occupancy --section WarpStateStats \
    --section MemoryWorkloadAnalysis --section LaunchStats -k 'regex:planner|decode|combine' --launch-count 8 \
    $B/tools/mla bench --sweep issue5 --only "$2" --mode eager --min-runs 1 --max-runs 1 --warmup 1 --check-gflop 0
}
ncu_run h16 b128_kv4096_h16_q1_p64
ncu_run p1 b128_kv4096_h16_q1_p1
grep -E "^  [a-z_]+.*\(|Duration|Memory Throughput|DRAM Throughput|Achieved Occupancy|Registers Per|Stall" \
  "$OUT_DIR"/ncu-*.log | head -n 120

tar czf "$OUT_DIR/../sanprof-logs.tgz" -C "$OUT_DIR" . && rm -rf "$OUT_DIR"
