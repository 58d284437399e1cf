#!/usr/bin/env bash
# Runs the fuzz targets built by fuzz/build.sh, each for a bounded time on a
# scratch copy of its committed seed corpus (fuzz/corpus/<target>, never
# written to), all at the same time:
#   fuzz/run.sh BUILD_DIR SECONDS [TARGET ...]   (targets: npy problem_json problem_dir)
# Any crash, leak, undefined behaviour, timeout (-timeout) or memory blow-up
# (-rss_limit_mb) fails the run; the input that did it is kept under
# BUILD_DIR/fuzz-work/<target>/artifacts. One line per target:
#   FUZZ <target>: <s> s, <n> executions, corpus <seeds> -> <units>: ok|FAILED
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET ...]}
secs=${2:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET ...]}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy problem_json problem_dir)

run_one() {
  local t=$1 work="$build/fuzz-work/$1" max_len=4096
  [ "$t" = problem_dir ] && max_len=65536  # seeds are whole directories (up to 42 KiB)
  rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
  local rc=0
  "$build/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" "fuzz/corpus/$t" \
    > "$work/log" 2>&1 || rc=$?
  local execs units seeds result=ok
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n1)
  units=$(ls "$work/corpus" | wc -l)
  seeds=$(ls "fuzz/corpus/$t" | wc -l)
  if [ "$rc" -ne 0 ]; then
    result=FAILED
    grep -E "ERROR|SUMMARY|runtime error" "$work/log" | head -n 20 >&2 || true
  fi
  echo "FUZZ $t: $secs s, ${execs:-0} executions, corpus $seeds -> $((seeds + units)): $result" | tee "$work/summary"
  [ "$rc" -eq 0 ]
}

# All at once, so the wall time is SECONDS whatever the number of targets
# (on CI's 2 cores each gets a share of a core); every target runs even when
# one fails.
failed=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit $failed
