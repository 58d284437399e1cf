#!/usr/bin/env bash
# tools/device/timeline_ab.sh - timelines (cuda/src/dev_timeline.cuh) of this tree and of the
# same tree with a patch applied, in one call: both timeline builds (tools/mla only, in
# parallel), then TL_RUNS processes of `mla bench --mode TL_MODE` on each (one replay per
# config and mode each: single replays vary by several us in graph mode, so compare runs),
# then tools/device/timeline_report.py over every file.
#   TL_PATCH    patch for the second build (default cuda/src/sm90/dev/spec_start.patch);
#               applied with `patch -p1` to a copy of the tree in ../tl-patched
#   TL_ONLY     issue5 configs (default H16 q1, H64 q1, B1)
#   TL_MODE     bench modes (default graph,layer); TL_RUNS (default 3)
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/timeline-summary.txt (the two builds' reports side by side per run);
# raw files and logs: $OUT/timeline-logs.tgz.
set -u
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='rc=|graph sm90|layer sm90'
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
STEP_LINES=12
step_init timeline "${TL_BUDGET:-300}"
PATCH=${TL_PATCH:-cuda/src/sm90/dev/spec_start.patch}
ONLY=${TL_ONLY:-b128_kv4096_h16_q1_p64,b128_kv4096_h64_q1_p64,b1_kv65536_h16_q1_p64}
S=(-Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release -Dtests=false
   "-Dcuda_args=['-DMLA_DEV_TIMELINE']" "-Dcpp_args=['-DMLA_DEV_TIMELINE']")
rm -rf ../tl-patched && mkdir ../tl-patched &&
  tar -cf - --exclude='./build-*' --exclude='./.device' . | tar -xf - -C ../tl-patched &&
  (cd ../tl-patched && patch -p1 < "$OLDPWD/$PATCH") > "$OUT_DIR/patch.log" 2>&1
echo "   | patch $PATCH: rc=$?" | tee -a "$SUMMARY"
( meson setup "$PWD/build-tl" "${S[@]}" > "$OUT_DIR/build-tl.log" 2>&1 &&
  timeout 240 ninja -C build-tl tools/mla >> "$OUT_DIR/build-tl.log" 2>&1; echo "rc=$?" >> "$OUT_DIR/build-tl.log" ) &
( meson setup "$PWD/build-tlp" ../tl-patched "${S[@]}" > "$OUT_DIR/build-tlp.log" 2>&1 &&
  timeout 240 ninja -C build-tlp tools/mla >> "$OUT_DIR/build-tlp.log" 2>&1; echo "rc=$?" >> "$OUT_DIR/build-tlp.log" ) &
wait
for n in tl tlp; do echo "   | build $n: $(tail -n 1 "$OUT_DIR/build-$n.log")" | tee -a "$SUMMARY"; done
for r in $(seq 1 "${TL_RUNS:-3}"); do
  for n in tl tlp; do
    mkdir -p "$OUT_DIR/$n-r$r"
    step "$n-r$r" 60 env MLA_DEV_TIMELINE_OUT="$OUT_DIR/$n-r$r" "build-$n/tools/mla" bench --sweep issue5 --only "$ONLY" \
      --mode "${TL_MODE:-graph,layer}" --min-runs 20 --target-ms 20 --check-gflop 0
  done
done
for f in "$OUT_DIR"/tl-r*/*.tl; do
  g=${f/\/tl-r/\/tlp-r}
  { echo "#### $(basename "$(dirname "$f")")/$(basename "$f") | patched"
    paste -d'|' <(python3 "$(dirname "$0")/timeline_report.py" "$f") \
      <([ -f "$g" ] && python3 "$(dirname "$0")/timeline_report.py" "$g" | cut -c28-)
  } >> "$SUMMARY"
done
step_finish timeline
