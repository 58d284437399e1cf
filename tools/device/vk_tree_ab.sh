#!/usr/bin/env bash
# tools/device/vk_tree_ab.sh - Vulkan decode A/B of source trees on the GPU
# machine (the method of the twenty-first and twenty-second sessions, as one
# tool). Builds tests/vulkan/test_vulkan of each tree (Vulkan only, in
# parallel, into /root/vkab-<folder>: outside the carried trees, which the
# next call replaces), then runs the test bench "bench: H=16 decode variants"
# of each tree in turn, VKAB_ROUNDS times, alternating the trees so that a
# drift of the clocks shows as a difference between rounds, not between trees.
#
# Usage, from the root of the device's working tree after
# `source .device/enter.sh` (each tree a carried folder, e.g.
# `git archive <hash> | tar -x -C lead-old`, without bench/results and docs):
#   VKAB_TREES="lead-old lead" bash lead/tools/device/vk_tree_ab.sh
# One tree whose variants differ by an environment variable needs no second
# tree (the cheapest A/B: one build, variants alternating in one process).
#
# Environment:
#   VKAB_TREES     folders to compare (required)
#   VKAB_VARIANTS  the test bench's MLA_VULKAN_BENCH_VARIANTS (default below: a
#                  throw-away first variant for the clock ramp, the producer
#                  default, the default main, N = 16, the clock profile)
#   VKAB_ROUNDS    rounds (default 2)
#   VKAB_H128      1 adds the H = 128 case (default 0: H = 16 only)
#   VKAB_FP8       0 leaves out FP8 KV (default 1)
#   VKAB_CACHE     trees whose pipeline cache (the driver's SASS:
#                  vulkan/dev/pipeline_sass.py) and pipeline statistics are kept
#                  from round 1: $OUT/pc-<folder>.bin
#   VKAB_SUITE     a tree whose native Vulkan suite runs at the end
#   VKAB_ROOT      where the build folders go (default /root)
#   VKAB_TIMEOUT   seconds a bench process may take (default 200)
# Output: $OUT/vkab-summary.txt (the variant lines per tree and round, the
# table of the first clock profile of each bench process, the builds' and
# the suite's status) and $OUT/vkab-logs.tgz (full logs: clock
# profiles, pipeline statistics); 2 + |VKAB_CACHE| files, within the device's
# eight.
set -u
: "${VKAB_TREES:?set VKAB_TREES to the tree folders to compare}"
C=MLA_VULKAN_COOPMAT=1
V=${VKAB_VARIANTS:-"warm:$C;cm:$C;cm-warps-default:$C,MLA_VULKAN_CM_WARPS=default;cm-n16:$C,MLA_VULKAN_COOPMAT_KEYS=16;cm-prof:$C,MLA_VULKAN_CM_PROFILE=1"}
L=$OUT/vkab
S=$OUT/vkab-summary.txt
mkdir -p "$L"
: > "$S"
bdir() { echo "${VKAB_ROOT:-/root}/vkab-$(basename "$1")"; }

for t in $VKAB_TREES; do
  { ( meson setup "$(bdir "$t")" "$t" -Dcuda=disabled -Dvulkan=enabled -Dbuildtype=release -Dtools=false &&
      ninja -C "$(bdir "$t")" tests/vulkan/test_vulkan ) > "$L/build-$(basename "$t").log" 2>&1
    echo "build $t rc=$?" >> "$S"; } &
done
wait

cases=(MLA_VULKAN_BENCH_H16_ONLY=1)
[ "${VKAB_H128:-0}" = 1 ] && cases=()
[ "${VKAB_FP8:-1}" = 0 ] && cases+=(MLA_VULKAN_BENCH_FP8=0)
for r in $(seq 1 "${VKAB_ROUNDS:-2}"); do
  for t in $VKAB_TREES; do
    n=$(basename "$t")
    extra=()
    if [ "$r" = 1 ] && [[ " ${VKAB_CACHE:-} " == *" $t "* ]]; then
      extra=(MLA_VULKAN_PIPELINE_CACHE="$OUT/pc-$n.bin" MLA_VULKAN_PIPELINE_STATS=1)
    fi
    env MLA_VULKAN_BENCH=1 MLA_VULKAN_BENCH_REPS=7 MLA_VULKAN_BENCH_VARIANTS="$V" "${cases[@]}" "${extra[@]}" \
      timeout "${VKAB_TIMEOUT:-200}" "$(bdir "$t")/tests/vulkan/test_vulkan" -tc='bench: H=16 decode variants*' > "$L/bench-$n-r$r.log" 2>&1
    echo "## $n round $r (rc=$?)" >> "$S"
    grep '^variant' "$L/bench-$n-r$r.log" | grep -v 'histogram\|clock profile' >> "$S"
    # The first clock profile of the process (the first profiled variant's
    # first case: BF16, splits = 1), its table only.
    awk '/coopmat clock profile/ && !done {p = 1; sub(/ +coopmat clock profile.*/, ""); print "profile of " $0; next}
         p && /^  tile sum/ {print; p = 0; done = 1; next}
         p && /^  [a-zA-Z]/ {print}' "$L/bench-$n-r$r.log" >> "$S"
  done
done

if [ -n "${VKAB_SUITE:-}" ]; then
  n=$(basename "$VKAB_SUITE")
  timeout 200 "$(bdir "$VKAB_SUITE")/tests/vulkan/test_vulkan" -tce='bench*' > "$L/suite-$n.log" 2>&1
  echo "suite $n rc=$? $(grep 'test cases' "$L/suite-$n.log")" >> "$S"
fi
tar -czf "$OUT/vkab-logs.tgz" -C "$OUT" vkab && rm -rf "$L"
cat "$S"
