#!/usr/bin/env bash
# fp8_device_check.sh - one GPU call for the sm_90a fp8-KV kernel
# (MLA_SM90_FP8=1), after its first run failed accuracy (perf_notes.md,
# "Helper, third session: fp8-KV kernel after its first GPU run"):
#   1. build (release, sm_90a only, no Vulkan), and beside it `mla` with the
#      dev switch MLA_SM90_FP8_PROFILE=1 (cycles a tile per phase of the
#      consumer warpgroups, printed on stderr for CTA 0);
#   2. with MLA_SM90_FP8=1: the cuda suite, the reliability tables (NaN / Inf,
#      FP8 stress, device faults), `mla bench --sweep fp8` (graph), the
#      profile build on four fp8 configs (eager, a few runs);
#   3. if time is left: the same sweep with MLA_SM90_FP8=0 (portable route).
# Run from the repository root on the GPU machine after
# `source .device/enter.sh`. Every step under `timeout`, the whole within
# 240 s; all logs in one archive: $OUT/fp8-device-logs.tgz.
set -u
LOG=${OUT:-$PWD/fp8dev-out}/fp8dev
mkdir -p "$LOG"
export PATH=/usr/local/cuda/bin:$PATH
T0=$(date +%s)
BUDGET=${FP8_BUDGET:-235}  # FP8_BUDGET / FP8_SUITE_LIMIT: longer runs when the call has room
left() { echo $((BUDGET - ($(date +%s) - T0))); }

step() {  # step NAME LIMIT CMD...
  local name=$1 limit=$2
  shift 2
  local l
  l=$(left)
  if [ "$l" -lt 5 ]; then
    echo "== $name skipped (budget spent)" | tee "$LOG/$name.log"
    return
  fi
  [ "$limit" -gt "$l" ] && limit=$l
  local start
  start=$(date +%s)
  timeout "$limit" "$@" >"$LOG/$name.log" 2>&1
  local rc=$?
  echo "== $name rc=$rc after $(($(date +%s) - start))s (limit ${limit}s, total $(($(date +%s) - T0))s)" |
    tee -a "$LOG/summary.txt"
  grep -E "test cases|assertions|Status:|worst err/tol|FAILED|rror:" "$LOG/$name.log" | sort | uniq -c |
    sort -rn | head -n 6 | cut -c1-220 | sed 's/^/   | /' | tee -a "$LOG/summary.txt"
}

git rev-parse HEAD >"$LOG/commit.txt" 2>&1
git status --short >>"$LOG/commit.txt" 2>&1
B=build-fp8dev
P=build-fp8prof
# Build folders left by an earlier call are reused, but their CUDA objects
# are rebuilt: meson records no header dependencies for nvcc, so a change to
# a .cuh alone would leave a stale kernel.
[ -f $B/build.ninja ] || step setup 30 meson setup $B -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a \
  -Dbuildtype=release
[ -f $P/build.ninja ] || step setup-prof 30 meson setup $P -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a \
  -Dbuildtype=release -Dtests=false -Dcuda_args=-DMLA_SM90_FP8_PROFILE=1
find $B $P -name '*.cu.o' -delete 2>/dev/null
step build-prof 115 ninja -C $P tools/mla &
step build 115 ninja -C $B tests/cuda/test_cuda tests/reliability/test_reliability_cuda tools/mla
wait

step fp8-cuda-suite "${FP8_SUITE_LIMIT:-60}" env MLA_SM90_FP8=1 $B/tests/cuda/test_cuda --duration=true
grep -E "^[0-9.]+ s: " "$LOG/fp8-cuda-suite.log" | sort -rn | head -n 8 | sed 's/^/   | /' | tee -a "$LOG/summary.txt"
# Which format pairs failed, and how badly (one line per failure).
grep -B14 "worst err/tol" "$LOG/fp8-cuda-suite.log" | grep -oE "q=[a-z0-9_]+ kv=[a-z0-9_]+|worst err/tol [0-9.]+" |
  paste - - | sort | tee "$LOG/suite-failures.txt" | awk '{print $1, $2}' | uniq -c | sed 's/^/   | /' |
  tee -a "$LOG/summary.txt"
step fp8-reliability 25 env MLA_SM90_FP8=1 $B/tests/reliability/test_reliability_cuda \
  -tc='nan*,fp8 stress*,device faults*'
step fp8-bench-sm90 30 env MLA_SM90_FP8=1 $B/tools/mla bench --sweep fp8 --mode graph --min-runs 20 --target-ms 60 \
  --json "$LOG/bench-fp8.jsonl" --commit "fp8-sm90"
ONLY=b128_kv4096_h16_q1_p64_fp8fp8,b128_kv4096_h16_q1_p64_bf16fp8,b128_kv4096_h128_q2_p64_fp8fp8
ONLY=$ONLY,b1_kv131072_h16_q1_p64_fp8fp8
step fp8-profile 25 env MLA_SM90_FP8=1 $P/tools/mla bench --sweep fp8 --only $ONLY --mode eager --min-runs 3 \
  --max-runs 5 --target-ms 5
grep -h "fp8 profile" "$LOG/fp8-profile.log" | sort -u | cut -c1-230 | tee -a "$LOG/summary.txt"
if [ "$(left)" -ge 20 ]; then
  step fp8-bench-portable 20 env MLA_SM90_FP8=0 $B/tools/mla bench --sweep fp8 --mode graph --min-runs 20 \
    --target-ms 60 --json "$LOG/bench-fp8.jsonl" --commit "fp8-portable"
fi
grep -hE " graph " "$LOG"/fp8-bench-*.log | cut -c1-150 | tee -a "$LOG/summary.txt"

echo "total $(($(date +%s) - T0))s" | tee -a "$LOG/summary.txt"
tar czf "$LOG/../fp8-device-logs.tgz" -C "$LOG" . && rm -rf "$LOG"
