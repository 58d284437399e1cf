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
