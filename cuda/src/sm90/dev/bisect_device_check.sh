#!/usr/bin/env bash
# bisect_device_check.sh - one GPU call that splits the 2026-11-27 regressions
# (docs/perf_notes.md: dense H16..H64 +4-7% and page 1 / page 16 slower since
# 919f832) between their suspects, all in one process per variant:
#   default                        what the library ships
#   -DMLA_SM90_NONFINITE_CHECK=0   without the per-tile non-finite-V probe
#   (-DMLA_SM90_ARRIVE_HANDOFF=1 and -DMLA_SM90_NONFINITE_CHECK=2 were timed
#   here in the third session - 178.7 and 184.1 us vs 179.8 at H16 - and
#   removed from the kernel.)
#   default + MLA_PLANNER=legacy   44c3bb4's planner / combine switched off
# Run from the repository root on the GPU machine after `source
# .device/enter.sh`. Builds tools/mla three times in parallel (CUDA only,
# sm_90a), then times the same configs with each. Logs and JSON lines under
# $OUT/bisect; every step under `timeout`, the whole under ~3 minutes.
set -u
OUT_DIR=${OUT:-$PWD/bisect-out}/bisect
mkdir -p "$OUT_DIR"
export PATH=/usr/local/cuda/bin:$PATH
CONFIGS=b128_kv4096_h16_q1_p64,b128_kv4096_h64_q1_p64,b128_kv4096_h128_q1_p64,b128_kv4096_h16_q1_p1,b128_kv4096_h16_q1_p16
declare -A FLAGS=([default]="" [noprobe]="-DMLA_SM90_NONFINITE_CHECK=0")

for v in "${!FLAGS[@]}"; do
  (
    targets=(tools/mla)
    meson setup "bisect-$v" -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release \
      -Dcuda_args="${FLAGS[$v]}" >"$OUT_DIR/setup-$v.log" 2>&1 &&
      timeout 150 ninja -C "bisect-$v" "${targets[@]}" >"$OUT_DIR/build-$v.log" 2>&1
    echo "build $v rc=$?"
  ) &
done
wait

bench() {  # bench LABEL BUILD [ENV...]
  local label=$1 build=$2
  shift 2
  echo "== $label"
  timeout 45 env "$@" "$build/tools/mla" bench --sweep issue5 --only "$CONFIGS" --mode graph --min-runs 20 \
    --target-ms 40 --json "$OUT_DIR/bench.jsonl" --commit "variant-$label" >"$OUT_DIR/bench-$label.log" 2>&1
  echo "   rc=$?"
  grep -E "graph sm90" "$OUT_DIR/bench-$label.log" | grep -v "^ " || true
}
bench default bisect-default
bench noprobe bisect-noprobe
bench legacy-planner bisect-default MLA_PLANNER=legacy

# The sanitizer probe (racecheck_probe.cu): which part of the kernel's
# surroundings makes synccheck report divergent threads at its named barriers.
nvcc -O2 -gencode=arch=compute_90a,code=sm_90a cuda/src/sm90/dev/racecheck_probe.cu -o "$OUT_DIR/probe" \
  >"$OUT_DIR/probe-build.log" 2>&1
for m in 0 2 3; do
  for tool in racecheck synccheck; do
    echo "== probe mode $m $tool"
    timeout 20 compute-sanitizer --tool "$tool" --error-exitcode 1 "$OUT_DIR/probe" "$m" >"$OUT_DIR/probe-$m-$tool.log" 2>&1
    echo "   rc=$? $(grep -E 'SUMMARY|sum of' "$OUT_DIR/probe-$m-$tool.log" | tr '\n' ' ')"
  done
done

# The device tool brings back at most 8 files: one archive of the logs.
tar czf "$OUT_DIR/../bisect-logs.tgz" -C "$OUT_DIR" . && rm -rf "$OUT_DIR"
