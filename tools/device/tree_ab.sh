#!/usr/bin/env bash
# tools/device/tree_ab.sh - this tree against older ones (OLD_TREE, default
# ../lead_old; several separated by spaces: e.g. `for h in A B; do mkdir ../ab-$h &&
# git archive $h | tar -x -C ../ab-$h; done`, each folder carried): builds
# tools/mla of each (this tree's build also the cuda suite and the planner's
# host-side bound tests), then
#   1. times of the configs AB_ISSUE5 (issue5 sweep names) and AB_FP8 (fp8
#      sweep names; AB_FP8= for none) in the modes AB_MODE (default graph;
#      e.g. graph,layer) on every build, in turn, AB_ROUNDS times;
#   2. ncu durations of the kernels matching AB_NCU_KERNELS at each of AB_NCU_CONFIG
#      (issue5 configs, comma-separated) on both builds;
#   3. the planner's host-side bound tests and the cuda suite on this tree (AB_SUITE= skips
#      both, and their builds: for a timing-only bisection).
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/treeab-summary.txt; logs: $OUT/treeab-logs.tgz; times: $OUT/treeab.jsonl.
set -u
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='test cases|ERROR|FAILED|error|graph sm90|rc=|Duration|Context 1'
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
STEP_LINES=30
step_init treeab "${TREEAB_BUDGET:-400}"
read -r -a OLDS <<< "${OLD_TREE:-../lead_old}"
I5=${AB_ISSUE5:-b1_kv65536_h16_q1_p64,even_b4_h16_q4,uneven_b4_h16_q4,b32_kv8192_h128_q1_p64,b128_kv4096_h16_q1_p64,b128_kv4096_h128_q1_p64}
F8=${AB_FP8-b1_kv131072_h16_q1_p64_fp8fp8}
MODE=${AB_MODE:-graph}
S=(-Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release)
# Build names: old (one old tree, as before) or old-<folder name> (several).
names=()
for t in "${OLDS[@]}"; do
  n=old; [ ${#OLDS[@]} -gt 1 ] && n=old-$(basename "$t")
  names+=("$n")
  ( meson setup "$PWD/build-$n" "$t" "${S[@]}" > "$OUT_DIR/build-$n.log" 2>&1 &&
    ninja -C "build-$n" tools/mla >> "$OUT_DIR/build-$n.log" 2>&1; echo "rc=$?" >> "$OUT_DIR/build-$n.log" ) &
done
names+=(new)
( meson setup build-new "${S[@]}" > "$OUT_DIR/build-new.log" 2>&1 &&
  ninja -C build-new tools/mla ${AB_SUITE-tests/cuda/test_cuda tests/unit/test_cuda_bounds} >> "$OUT_DIR/build-new.log" 2>&1
  echo "rc=$?" >> "$OUT_DIR/build-new.log" ) &
wait
for n in "${names[@]}"; do echo "   | build $n: $(tail -1 "$OUT_DIR/build-$n.log")" | tee -a "$SUMMARY"; done
for r in $(seq 1 "${AB_ROUNDS:-2}"); do
  for n in "${names[@]}"; do
    step "issue5-$n-$r" 60 build-$n/tools/mla bench --sweep issue5 --only "$I5" --mode "$MODE" --min-runs 20 \
      --target-ms 30 --json "$OUT_DIR/ab.jsonl" --commit "${MLA_COMMIT:-unknown}-$n"
    [ -n "$F8" ] && step "fp8-$n-$r" 40 build-$n/tools/mla bench --sweep fp8 --only "$F8" --mode "$MODE" --min-runs 20 \
      --target-ms 30 --json "$OUT_DIR/ab.jsonl" --commit "${MLA_COMMIT:-unknown}-$n"
  done
done
NCU=${AB_NCU_CONFIG-b1_kv65536_h16_q1_p64,b128_kv4096_h16_q1_p64}  # AB_NCU_CONFIG= for none
for c in ${NCU//,/ }; do
  for n in "${names[@]}"; do
    step "ncu-$c-$n" 90 ncu --clock-control none --section SpeedOfLight -k "regex:${AB_NCU_KERNELS:-page_check|planner|combine}" \
      --launch-count 6 build-$n/tools/mla bench --sweep issue5 --only "$c" --mode eager \
      --min-runs 1 --max-runs 1 --warmup 1 --check-gflop 0
  done
done
if [ -n "${AB_SUITE-1}" ]; then
  step bounds 60 build-new/tests/unit/test_cuda_bounds
  step suite 120 build-new/tests/cuda/test_cuda
fi
cp "$OUT_DIR/ab.jsonl" "$OUT_DIR/../treeab.jsonl"
step_finish treeab
