#!/usr/bin/env bash
# tools/device/fp8s_first_check.sh - the first GPU call for the transposed
# small-H fp8-KV kernel (docs/fp8_small_h_design.md, "Implementation
# status"), every step with its own timeout under one deadline, a summary
# written as it goes:
#   1. racecheck_probe.cu mode 11 (plain, racecheck, synccheck)
#   2. the dev harness (cuda/src/sm90/dev/build.sh), then `check-fp8s`: one
#      tile of S^T and O^T with the kernel's descriptors against the host
#   3. `check` with MLA_SM90_FP8_SMALLH=1; its log must hold the library's
#      line "first small-H fp8-KV kernel launch" (else the new kernel never
#      ran and the check only covered the current one)
#   4. while time is left: synccheck, then racecheck, of `check quick` with
#      the switch (its H16 q{1,1,1} takes the new kernel)
# Usage (repository root on the GPU machine):
#   source .device/enter.sh; bash tools/device/fp8s_first_check.sh
# FP8S_DEADLINE (seconds, default 540) bounds the whole script.
# Output: $OUT/fp8s-summary.txt and $OUT/fp8s-logs.tgz (binaries stay in
# $FP8S_WORK, default /tmp/fp8s-work: only 8 files come back from $OUT).
set -u
O=${OUT:-$PWD/fp8s-out}
L=$O/fp8s
W=${FP8S_WORK:-/tmp/fp8s-work}
mkdir -p "$L" "$W"
S=$O/fp8s-summary.txt
: >"$S"
export PATH=/usr/local/cuda/bin:$PATH
T0=$(date +%s)
DEADLINE=${FP8S_DEADLINE:-540}
finish() {
  echo "== total $(($(date +%s) - T0))s" | tee -a "$S"
  tar czf "$O/fp8s-logs.tgz" -C "$L" . && rm -rf "$L"
}
step() {  # step NAME LIMIT CMD...: runs CMD under min(LIMIT, time left); its rc
  local name=$1 limit=$2
  shift 2
  local left=$((DEADLINE - ($(date +%s) - T0)))
  if [ "$left" -lt 20 ]; then
    echo "== $name skipped (${left}s left)" | tee -a "$S"
    return 125
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local start=$(date +%s)
  timeout "$limit" "$@" >"$L/$name.log" 2>&1
  local rc=$?
  echo "== $name rc=$rc after $(($(date +%s) - start))s (total $(($(date +%s) - T0))s)" | tee -a "$S"
  grep -E "FAIL|SUMMARY|Hazard|hazard|mode 11|small-H|checks:|per-row|fault check|refused|rror" "$L/$name.log" |
    cut -c1-200 | sed 's/^/   | /' | head -n 16 | tee -a "$S"
  return $rc
}

step probe-build 120 nvcc -O2 -gencode=arch=compute_90a,code=sm_90a cuda/src/sm90/dev/racecheck_probe.cu \
  -o "$W/probe"
step probe 30 "$W/probe" 11
step probe-racecheck 60 compute-sanitizer --tool racecheck --error-exitcode 1 "$W/probe" 11
step probe-synccheck 60 compute-sanitizer --tool synccheck --error-exitcode 1 "$W/probe" 11
if ! step dev-build 300 bash cuda/src/sm90/dev/build.sh "$W/dev"; then
  tail -n 30 "$L/dev-build.log" | cut -c1-200 | sed 's/^/   | /' | tee -a "$S"
  finish
  exit 1
fi
step check-fp8s 60 "$W/dev/sm90_dev_check" check-fp8s
step check 240 env MLA_SM90_FP8_SMALLH=1 "$W/dev/sm90_dev_check" check
grep -q "first small-H fp8-KV kernel launch" "$L/check.log" ||
  echo "!! check: no launch line, the small-H kernel did not run" | tee -a "$S"
step quick-synccheck 150 env MLA_SM90_FP8_SMALLH=1 compute-sanitizer --tool synccheck --error-exitcode 1 \
  "$W/dev/sm90_dev_check" check quick
step quick-racecheck 150 env MLA_SM90_FP8_SMALLH=1 compute-sanitizer --tool racecheck --error-exitcode 1 \
  --print-limit 10 --racecheck-report hazard "$W/dev/sm90_dev_check" check quick
finish
