#!/usr/bin/env bash
# The reliability suite under compute-sanitizer on the GPU machine, after
# tools/gpu-check has built BUILD_DIR (default build-gpu) with -Dcuda=enabled:
#
#   tests/reliability/gpu_sanitize.sh [BUILD_DIR]
#
# memcheck over the device-fault table (bad page ids, kv_len, q_offsets on
# the device: no access out of bounds), the NaN/Inf and FP8-stress tables and
# the validation table through cuda::decode_host (accepted rows run, bad
# metadata flagged on the device); racecheck and synccheck over the fault
# table (flagged requests take the combine kernel's fault path) and the
# repeated-run determinism table. One line per run; exit 1 if any failed.
# Environment: OUT (log folder, default .), MLA_TEST_SEED (repeat a run).
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-gpu}
out=${OUT:-.}
mkdir -p "$out"
cuda="$build/tests/reliability/test_reliability_cuda"
ref="$build/tests/reliability/test_reliability_reference"
[ -x "$cuda" ] || { echo "gpu_sanitize: $cuda is missing (configure with -Dcuda=enabled)" >&2; exit 1; }
san=(compute-sanitizer --error-exitcode 1 --print-limit 20)
failed=0

run() {
  local name=$1
  shift
  local t0=$SECONDS rc=0
  "$@" >"$out/gpu-sanitize-$name.log" 2>&1 || rc=$?
  printf 'gpu_sanitize %-24s %s (%ss, log %s)\n' "$name" "$([ $rc -eq 0 ] && echo PASS || echo "FAIL (exit $rc)")" \
    "$((SECONDS - t0))" "$out/gpu-sanitize-$name.log"
  [ $rc -eq 0 ] || failed=1
}

run plain "$cuda"
run memcheck-faults "${san[@]}" --tool memcheck "$cuda" -tc='device faults*'
run memcheck-nan-fp8 "${san[@]}" --tool memcheck "$cuda" -tc='nan*,fp8 stress*'
run memcheck-validation "${san[@]}" --tool memcheck "$ref" -tc='validation table: cuda*'
run racecheck "${san[@]}" --tool racecheck --racecheck-report hazard "$cuda" -tc='device faults*,determinism: repeated*'
run synccheck "${san[@]}" --tool synccheck "$cuda" -tc='device faults*,determinism: repeated*'
exit $failed
