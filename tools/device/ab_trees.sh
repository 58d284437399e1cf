#!/usr/bin/env bash
# tools/device/ab_trees.sh - the same `mla bench` configs on several source
# trees in one device call, rounds alternating between the trees, each tree's
# tools/mla built in parallel first (a release CUDA build, no Vulkan, no tests).
# The trees are folders prepared on the dev machine and carried to the device
# (the device copy has no git history), e.g.
#   for h in f82cb42 ffe1193 975fbc5; do rm -rf ab-$h && mkdir ab-$h && git archive $h | tar -x -C ab-$h; done
# then on the device (carry .device and each ab-* folder):
#   AB_ONLY=b128_kv4096_h16_q1_p1,b128_kv4096_h16_q1_p64 bash tools/device/ab_trees.sh ../ab-f82cb42 ../ab-ffe1193 ../ab-975fbc5
# Environment: AB_ONLY (configs, default the issue-5 H16 page 1 and 64), AB_SWEEP (issue5),
# AB_MODE (graph,layer), AB_ROUNDS (2), AB_ARGS (extra meson args, e.g. "-Dcuda_args=['-DX=1']").
# Output: $OUT/ab.jsonl (commit = tree folder name + round), $OUT/ab-summary.txt (median a config).
set -u
export PATH=/usr/local/cuda/bin:$PATH
OUT=${OUT:-$PWD/ab-out}
mkdir -p "$OUT"
[[ $# -ge 1 ]] || { echo "usage: $0 TREE..." >&2; exit 2; }
for t in "$@"; do
  ( cd "$t" && meson setup build-ab -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release \
      -Dtests=false ${AB_ARGS:-} > "$OUT/build-$(basename "$t").log" 2>&1 &&
    timeout 300 ninja -C build-ab tools/mla >> "$OUT/build-$(basename "$t").log" 2>&1
    echo "build $(basename "$t") rc=$?" ) &
done
wait
for r in $(seq 1 "${AB_ROUNDS:-2}"); do
  for t in "$@"; do
    timeout 120 "$t/build-ab/tools/mla" bench --sweep "${AB_SWEEP:-issue5}" \
      --only "${AB_ONLY:-b128_kv4096_h16_q1_p1,b128_kv4096_h16_q1_p64}" --mode "${AB_MODE:-graph,layer}" \
      --min-runs 20 --target-ms 20 --json "$OUT/ab.jsonl" --commit "$(basename "$t")-$r" >> "$OUT/bench.log" 2>&1
    echo "bench $(basename "$t") round $r rc=$?"
  done
done
[[ -s $OUT/ab.jsonl ]] || { echo "no results in $OUT/ab.jsonl (see $OUT/bench.log)"; exit 1; }
python3 - "$OUT/ab.jsonl" > "$OUT/ab-summary.txt" <<'PY'
import collections, json, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    d[(r['config'], r['mode'], r['commit'].rsplit('-', 1)[0])].append(r['time_us'])
for k in sorted(d):
    print('%-34s %-6s %-16s median %8.1f us  runs %s' % (k + (statistics.median(d[k]), ' '.join('%.1f' % x for x in d[k]))))
PY
cat "$OUT/ab-summary.txt"
