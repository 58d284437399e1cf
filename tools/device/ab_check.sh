#!/usr/bin/env bash
# tools/device/ab_check.sh - one GPU call that checks a kernel change and
# times it against other forms, all built in the same call:
#   A = the checkout as it is (the change); each variant in AB_VARIANTS
#   ("name:nvcc defines;name:defines", e.g. "old:-DMLA_SM90_FP8_SPLIT_CONVERT=0")
#   is the same with extra defines (the old form, or a measurement build),
#   given to both the .cu and the C++ sources.
#   1. build A and the variants (cuda only, sm_90a, release), in parallel
#   2. A (unless AB_TESTS=0): cuda suite, reliability tables, racecheck of
#      the sanitizer subset
#   3. mla bench --sweep $AB_SWEEP (graph) for A, each variant, then A again
#      (the repeat shows the run-to-run noise)
#   4. ncu (SpeedOfLight: duration, SM frequency, DRAM throughput) of the
#      kernels of config $AB_NCU_CONFIG, A and each variant
# Usage (repository root on the GPU machine, after `source .device/enter.sh`):
#   AB_VARIANTS="old:-DMLA_SM90_FP8_SPLIT_CONVERT=0" AB_SWEEP=fp8 \
#   AB_NCU_CONFIG=b128_kv4096_h16_q1_p64_bf16fp8 bash tools/device/ab_check.sh
# Output: $OUT/ab-summary.txt and $OUT/ab-logs.tgz.
set -u
O=${OUT:-$PWD/ab-out}
L=$O/ab
mkdir -p "$L"
export PATH=/usr/local/cuda/bin:$PATH
# step NAME LIMIT CMD...: the team's step helper (vulkan/dev/check_step.sh):
# timeout, log in $OUT_DIR, status and the lines matching $PATTERN in $SUMMARY.
OUT_DIR=$L
SUMMARY=$O/ab-summary.txt
: >"$SUMMARY"
S=$SUMMARY
BUDGET=${AB_BUDGET:-560}
T0=$(date +%s)
FAILED=0
PATTERN='test cases|SUMMARY|ERROR|FAILED|^b[0-9].* graph '
STEP_LINES=24
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
A=build-ab-a
IFS=';' read -r -a VARIANTS <<<"${AB_VARIANTS:?set AB_VARIANTS (name:defines;...)}"
step setup-a 60 meson setup $A -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release
for v in "${VARIANTS[@]}"; do
  step "setup-${v%%:*}" 60 meson setup "build-ab-${v%%:*}" -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a \
    -Dbuildtype=release -Dtests=false "-Dcuda_args=${v#*:}" "-Dcpp_args=${v#*:}"
  step "build-${v%%:*}" 200 ninja -C "build-ab-${v%%:*}" tools/mla &
done
step build-a 200 ninja -C $A tests/cuda/test_cuda tests/reliability/test_reliability_cuda tools/mla
wait
if [ "${AB_TESTS:-1}" != 0 ]; then
  step suite-a 150 $A/tests/cuda/test_cuda
  step reliability-a 60 $A/tests/reliability/test_reliability_cuda
  step racecheck-a 60 compute-sanitizer --error-exitcode 1 --print-limit 10 --tool racecheck \
    --racecheck-report hazard $A/tests/cuda/test_cuda -tc='*sanitizer subset*'
fi
BENCH=(bench --sweep "${AB_SWEEP:-fp8}" --mode graph --min-runs 20 --target-ms 40)
step bench-a 60 $A/tools/mla "${BENCH[@]}" --json "$L/bench-a.jsonl" --commit "${MLA_COMMIT:-unknown}"
for v in "${VARIANTS[@]}"; do
  step "bench-${v%%:*}" 60 "build-ab-${v%%:*}/tools/mla" "${BENCH[@]}" --json "$L/bench-${v%%:*}.jsonl" \
    --commit "${MLA_COMMIT:-unknown}-${v%%:*}"
done
step bench-a2 60 $A/tools/mla "${BENCH[@]}"
if [ -n "${AB_NCU_CONFIG:-}" ]; then
  NCU=(ncu --clock-control none --section SpeedOfLight -k 'regex:decode|combine|planner' --launch-count 6)
  MLA1=(bench --sweep "${AB_SWEEP:-fp8}" --only "$AB_NCU_CONFIG" --mode eager --min-runs 1 --max-runs 1 --warmup 1
    --check-gflop 0)
  for v in a "${VARIANTS[@]}"; do
    n=${v%%:*}
    d=build-ab-$n
    timeout 90 "${NCU[@]}" $d/tools/mla "${MLA1[@]}" >"$L/ncu-$n.log" 2>&1
    echo "== ncu-$n rc=$?" | tee -a "$S"
    grep -E "^  [a-z_v].*\(|Duration|SM Frequency|DRAM Throughput|Compute \(SM\)" "$L/ncu-$n.log" |
      sed 's/^/   | /' | head -n 30 | tee -a "$S"
  done
fi
echo "== total $(($(date +%s) - T0))s, failed steps: $FAILED" | tee -a "$S"
tar czf "$O/ab-logs.tgz" -C "$L" . && rm -rf "$L"
