#!/usr/bin/env bash
# tools/device/loads_ref.sh - same-condition references for issue 5's
# memory-bound gap (docs/flashmla_reading.md, section 8: FlashMLA's load path
# is no more aggressive than ours, so look outside the pipeline first), in one
# call, each measurement twice, interleaved:
#   1. gather_bw (a plain 2-stage gather of the decode's bytes, no math) with the
#      pool at a constant byte and with random bytes (--random 1);
#   2. mla bench H16 / H32 / H64 q1 (graph) with shuffled and sequential pages.
# Two more candidates of that section need library switches that are not on
# main (written and withdrawn unrun in the thirteenth session, code in
# 2caabdc): the tensor map's L2 promotion (256 B here, 128 B in FlashMLA) and a
# prefetch of the KV map's descriptor at kernel entry.
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/loadsref-summary.txt; logs: $OUT/loadsref-logs.tgz; times: $OUT/loadsref.jsonl.
set -u
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='error|rc=|graph sm90|ldg|cpasync|bulk|copy|# '
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
STEP_LINES=30
step_init loadsref "${LOADSREF_BUDGET:-300}"
S=(-Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release -Dtests=false)
( meson setup build-ref "${S[@]}" > "$OUT_DIR/build-ref.log" 2>&1 && timeout 240 ninja -C build-ref tools/mla >> "$OUT_DIR/build-ref.log" 2>&1
  echo "rc=$?" >> "$OUT_DIR/build-ref.log" ) &
( timeout 240 nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o gather_bw cuda/src/sm90/dev/gather_bw.cu \
    > "$OUT_DIR/build-gather.log" 2>&1; echo "rc=$?" >> "$OUT_DIR/build-gather.log" ) &
wait
for n in ref gather; do echo "   | build $n: $(tail -1 "$OUT_DIR/build-$n.log")" | tee -a "$SUMMARY"; done
ONLY=b128_kv4096_h16_q1_p64,b128_kv4096_h32_q1_p64,b128_kv4096_h64_q1_p64
for r in 1 2; do
  step "gather-const-$r" 60 ./gather_bw --splits 2
  step "gather-random-$r" 60 ./gather_bw --splits 2 --random 1
  step "shuffled-$r" 60 build-ref/tools/mla bench --sweep issue5 --only "$ONLY" --mode graph --min-runs 20 \
    --target-ms 30 --json "$OUT_DIR/ab.jsonl" --commit "${MLA_COMMIT:-unknown}-shuffled"
  step "sequential-$r" 60 build-ref/tools/mla bench --sweep issue5 --only "$ONLY" --mode graph --min-runs 20 \
    --target-ms 30 --page-order sequential --json "$OUT_DIR/ab.jsonl" --commit "${MLA_COMMIT:-unknown}-sequential"
done
cp "$OUT_DIR/ab.jsonl" "$OUT_DIR/../loadsref.jsonl"
step_finish loadsref
