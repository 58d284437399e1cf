#!/usr/bin/env bash
# sync_fix_device_check.sh - one GPU call: does the non-aligned named barrier
# form (sm90_sync.cuh, adf0ceb) make the Hopper kernel synccheck / racecheck
# clean, and does it cost time?
#   1. build (cuda + vulkan, sm_90a) and racecheck_probe.cu
#   2. probe modes 4-9 under synccheck and racecheck (4-6 aligned, 7-9 not)
#   3. the cuda suite's sanitizer subset, Hopper kernel: synccheck, racecheck
#   4. tests/reliability/gpu_sanitize.sh (memcheck / racecheck / synccheck of
#      the reliability tables)
#   5. the cuda suite; mla bench on H16 / H64 / H128 q1 and page 1 (graph)
# Run from the repository root on the GPU machine after `source
# .device/enter.sh`; logs in one archive under $OUT.
set -u
OUT_DIR=${OUT:-$PWD/syncfix-out}/syncfix
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
  grep -E "SUMMARY|test cases|mode [0-9]|gpu_sanitize|graph sm90" "$OUT_DIR/$name.log" | grep -v "^  " |
    sort | uniq -c | sort -rn | head -n 8 | sed 's/^/   | /'
}
B=build-gpu
(meson setup $B -Dcuda=enabled -Dvulkan=enabled -Dnvcc_archs=90a -Dbuildtype=release >"$OUT_DIR/setup.log" 2>&1 &&
  timeout 200 ninja -C $B >"$OUT_DIR/build.log" 2>&1; echo "build rc=$?") &
nvcc -O2 -gencode=arch=compute_90a,code=sm_90a cuda/src/sm90/dev/racecheck_probe.cu -o "$OUT_DIR/probe" \
  >"$OUT_DIR/probe-build.log" 2>&1
wait
for m in 4 5 6 7 8 9; do
  for tool in synccheck racecheck; do
    step "probe-$m-$tool" 20 compute-sanitizer --tool $tool --error-exitcode 1 "$OUT_DIR/probe" $m
  done
done
san=(compute-sanitizer --error-exitcode 1 --print-limit 6)
step synccheck-sm90 100 env MLA_TEST_KERNELS=sm90 "${san[@]}" --tool synccheck $B/tests/cuda/test_cuda -tc='*sanitizer subset*'
step racecheck-sm90 150 env MLA_TEST_KERNELS=sm90 "${san[@]}" --tool racecheck --racecheck-report hazard \
  $B/tests/cuda/test_cuda -tc='*sanitizer subset*'
step gpu-sanitize 150 env OUT="$OUT_DIR" bash tests/reliability/gpu_sanitize.sh $B
step cuda-suite 120 env MLA_REQUIRE_VULKAN=1 $B/tests/cuda/test_cuda
step bench 90 $B/tools/mla bench --sweep issue5 --only \
  b128_kv4096_h16_q1_p64,b128_kv4096_h64_q1_p64,b128_kv4096_h128_q1_p64,b128_kv4096_h16_q1_p1 --mode graph \
  --min-runs 20 --target-ms 40 --json "$OUT_DIR/bench.jsonl" --commit "$(git -C . log -1 --format=%h 2>/dev/null)"
tar czf "$OUT_DIR/../syncfix-logs.tgz" -C "$OUT_DIR" . && rm -rf "$OUT_DIR"
echo "total $(($(date +%s) - T0))s"
