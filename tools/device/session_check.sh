#!/usr/bin/env bash
# tools/device/session_check.sh - the last GPU call of a session: one build,
# then every GPU check the closing note quotes, in priority order, each under
# its own timeout, the whole within ~450 s (device time is the scarce thing):
#   1. build (cuda + vulkan, sm_90a, release)
#   2. cuda suite (incl. CUDA vs Vulkan, schedule vs host mirror)
#   3. reliability: CUDA (Hopper, then portable kernels), Vulkan on the GPU's driver
#   4. Vulkan suite on the GPU's driver (bench cases excluded), default (FP32) decode
#   5. compute-sanitizer on the sanitizer subset (memcheck, racecheck, synccheck)
#   6. mla bench --sweep issue5 (graph) -> $OUT/bench.jsonl
#   7. extra scripts given as arguments (each: "NAME:LIMIT:COMMAND"), e.g.
#      "gpu-sanitize:90:OUT=\$OUT/session/gs bash tests/reliability/gpu_sanitize.sh build-session"
#        (memcheck / racecheck / synccheck of the reliability tables),
#      "fp8:180:bash tools/device/fp8_route_check.sh build-session",
#      "h16:140:bash vulkan/dev/h16_device_check.sh",
#      "ncu:60:ncu --clock-control none --section SpeedOfLight -k 'regex:page_check|planner|decode|combine'
#        --launch-count 8 build-session/tools/mla bench --sweep issue5 --only b128_kv4096_h16_q1_p64
#        --mode eager --min-runs 1 --max-runs 1 --warmup 1 --check-gflop 0"
#        (each kernel's duration, which graph timings cannot give; MLA_PLANNER=legacy in front
#        times the old planner / combine)
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Logs: one archive $OUT/session-logs.tgz and $OUT/session-summary.txt.
set -u
OUT_DIR=${OUT:-$PWD/session-out}/session
mkdir -p "$OUT_DIR"
export PATH=/usr/local/cuda/bin:$PATH
SUMMARY=${OUT:-$PWD/session-out}/session-summary.txt
: >"$SUMMARY"
T0=$(date +%s)
step() {  # step NAME LIMIT CMD...
  local name=$1 limit=$2
  shift 2
  local start=$(date +%s)
  timeout "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1
  local rc=$?
  echo "== $name rc=$rc after $(($(date +%s) - start))s (total $(($(date +%s) - T0))s)" | tee -a "$SUMMARY"
  grep -E "test cases|SUMMARY|ERROR|FATAL|graph sm90|^b[0-9]|^even|^uneven|rc=" "$OUT_DIR/$name.log" |
    grep -v "^  " | sort | uniq -c | sort -rn | head -n 30 | sed 's/^/   | /' | tee -a "$SUMMARY"
}
B=build-session
step build 200 bash -c "meson setup $B -Dcuda=enabled -Dvulkan=enabled -Dnvcc_archs=90a -Dbuildtype=release && ninja -C $B"
export MLA_REQUIRE_VULKAN=1
step cuda-suite 120 $B/tests/cuda/test_cuda
step reliability-cuda 60 $B/tests/reliability/test_reliability_cuda
step reliability-cuda-portable 60 env MLA_CUDA_KERNEL=portable $B/tests/reliability/test_reliability_cuda
step reliability-vulkan-gpu 90 env MLA_VULKAN_REQUIRE_GPU=1 MLA_VULKAN_COOPMAT=0 $B/tests/reliability/test_reliability_vulkan
step reliability-vulkan-gpu-coopmat 90 env MLA_VULKAN_REQUIRE_GPU=1 MLA_VULKAN_COOPMAT=auto $B/tests/reliability/test_reliability_vulkan
# Line-buffered with durations: twice in the fourth session this step ran past
# its limit inside session_check (once with an empty log) while the same
# suite alone passed in 20 s; the log then shows where it stopped.
# ~60 s each on the H200 with the validation layer (vulkan/README.md): the
# default (coopmat where the device has it), then the FP32 decode.
step vulkan-suite 150 stdbuf -oL -eL $B/tests/vulkan/test_vulkan -tce='bench*' --duration=true
step vulkan-suite-fp32 150 env MLA_VULKAN_COOPMAT=0 stdbuf -oL -eL $B/tests/vulkan/test_vulkan -tce='bench*' --duration=true
san=(compute-sanitizer --error-exitcode 1 --print-limit 10)
step memcheck 60 "${san[@]}" --tool memcheck $B/tests/cuda/test_cuda -tc='*sanitizer subset*,*faults*,*C API*'
step racecheck 60 "${san[@]}" --tool racecheck --racecheck-report hazard $B/tests/cuda/test_cuda -tc='*sanitizer subset*'
step synccheck 60 "${san[@]}" --tool synccheck $B/tests/cuda/test_cuda -tc='*sanitizer subset*'
step bench-issue5 120 $B/tools/mla bench --sweep issue5 --mode "${MLA_SESSION_BENCH_MODE:-graph}" --min-runs 20 --target-ms 40 \
  --json "$OUT_DIR/bench.jsonl" --commit "${MLA_COMMIT:-unknown}"
sed -n '/^config/,$p' "$OUT_DIR/bench-issue5.log" >>"$SUMMARY"
for extra in "$@"; do
  name=${extra%%:*}; rest=${extra#*:}; limit=${rest%%:*}; cmd=${rest#*:}
  step "$name" "$limit" bash -c "$cmd"
  tail -n 40 "$OUT_DIR/$name.log" | sed 's/^/   > /' >>"$SUMMARY"
done
echo "== total $(($(date +%s) - T0))s" | tee -a "$SUMMARY"
cp "$OUT_DIR/bench.jsonl" "${OUT:-$PWD/session-out}/bench.jsonl" 2>/dev/null
tar czf "${OUT:-$PWD/session-out}/session-logs.tgz" -C "$OUT_DIR" . && rm -rf "$OUT_DIR"
