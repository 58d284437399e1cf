# check_step.sh - sourced by the device check scripts of vulkan/dev.
# step NAME LIMIT_S CMD...: runs CMD under `timeout` with the smaller of
# LIMIT_S and what is left of BUDGET seconds since T0, logs it to
# $OUT_DIR/NAME.log, appends its status and the log lines matching $PATTERN
# (at most STEP_LINES, default 40) to $SUMMARY, and counts a failure in FAILED.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET - ($(date +%s) - T0)))
  if [ "$left" -le 5 ]; then
    echo "== $name: skipped (time budget spent)" | tee -a "$SUMMARY"
    FAILED=$((FAILED + 1))
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local start=$(date +%s)
  echo "== $name (timeout ${limit}s): $*" | tee -a "$SUMMARY"
  timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
  local rc=$?
  echo "   rc=$rc after $(($(date +%s) - start))s" | tee -a "$SUMMARY"
  grep -E "$PATTERN" "$OUT_DIR/$name.log" | head -n "${STEP_LINES:-40}" | sed 's/^/   | /' | tee -a "$SUMMARY"
  [ "$rc" -ne 0 ] && FAILED=$((FAILED + 1))
  return $rc
}

# step_init NAME BUDGET_S: the usual setting for step: OUT_DIR = $OUT/NAME
# (./NAME-out/NAME without $OUT), an empty SUMMARY there, BUDGET, T0 = now,
# FAILED = 0.
step_init() {
  OUT_DIR=${OUT:-$PWD/$1-out}/$1
  mkdir -p "$OUT_DIR"
  BUDGET=$2
  T0=$(date +%s)
  FAILED=0
  SUMMARY=$OUT_DIR/summary.txt
  : > "$SUMMARY"
}

# step_finish NAME: appends the total to SUMMARY, leaves $OUT_DIR/../NAME-summary.txt
# and every log in $OUT_DIR/../NAME-logs.tgz (the device tool brings back at
# most 8 files), removes OUT_DIR, exits with FAILED.
step_finish() {
  echo "== total $(($(date +%s) - T0))s, failed steps: $FAILED" | tee -a "$SUMMARY"
  cp "$SUMMARY" "$OUT_DIR/../$1-summary.txt"
  tar czf "$OUT_DIR/../$1-logs.tgz" -C "$OUT_DIR" . && rm -rf "$OUT_DIR"
  exit "$FAILED"
}
