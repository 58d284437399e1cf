#!/usr/bin/env bash
# tools/device/loads_probe.sh - where the BF16 decode's memory-bound time goes
# (docs/perf_notes.md, "Lead, fifteenth session"), in one call: measurement
# builds of the library (tools/mla only, in parallel) timed in `mla bench
# --mode layer` (a warm-up config first: the first config of a process is
# noisy), next to gather_bw's plain gathers of the same bytes:
#   lib        the library
#   lib-cpa    the full kernel with every row by cp.async (MLA_DEV_BOX_CAP=0)
#   lo         loads only (MLA_DEV_SKIP=8): nine 2-D TMA boxes a tile
#   lo-bulk    loads only, one 1-D bulk copy a page (MLA_DEV_LOADS_BULK; wrong layout)
#   lo-cpa     loads only, every row by cp.async
# Extra builds: PROBE_EXTRA="name:['-DX=1','-DY=2'] ..." (meson array syntax: cuda_args;
# "name:[cuda args]:[cpp args]" sets cpp_args too, e.g. "-DMLA_DEV_SKIP=2" for api.cpp);
# PROBE_ONLY_EXTRA=1 runs the library and the extra builds only; PROBE_MODE: the bench
# modes (default layer; e.g. graph,layer); PROBE_ONLY: the issue5 configs. Builds named
# lib* are reference-checked on one request (--check-gflop 2).
# (Assembled from the fifteenth session's one-off calls, which ran each part.)
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/probe-summary.txt; logs: $OUT/probe-logs.tgz; times: $OUT/loads_probe.jsonl.
set -u
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='rc=|layer sm90|page 64|copy|CHECK|refused'
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
STEP_LINES=30
step_init probe "${PROBE_BUDGET:-300}"
S=(-Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release -Dtests=false)
SPECS=("lib:[]" "lib-cpa:['-DMLA_DEV_BOX_CAP=0']" "lo:['-DMLA_DEV_SKIP=8']"
       "lo-bulk:['-DMLA_DEV_SKIP=8','-DMLA_DEV_LOADS_BULK']" "lo-cpa:['-DMLA_DEV_SKIP=8','-DMLA_DEV_BOX_CAP=0']")
[[ -n ${PROBE_ONLY_EXTRA:-} ]] && SPECS=("${SPECS[0]}")  # the library, then the extra builds only
for e in ${PROBE_EXTRA:-}; do SPECS+=("$e"); done
names=()
for spec in "${SPECS[@]}"; do
  n=${spec%%:*}
  args=${spec#*:}
  cpp=[]  # an optional third field: cpp_args (api.cpp's MLA_DEV_SKIP=2, no combine)
  if [[ $args == *:* ]]; then cpp=${args#*:}; args=${args%%:*}; fi
  names+=("$n")
  ( meson setup "build-probe-$n" "${S[@]}" "-Dcuda_args=$args" "-Dcpp_args=$cpp" > "$OUT_DIR/build-$n.log" 2>&1 &&
    timeout 240 ninja -C "build-probe-$n" tools/mla >> "$OUT_DIR/build-$n.log" 2>&1
    echo "rc=$?" >> "$OUT_DIR/build-$n.log" ) &
done
( timeout 240 nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o gather_bw cuda/src/sm90/dev/gather_bw.cu \
    > "$OUT_DIR/build-gather.log" 2>&1; echo "rc=$?" >> "$OUT_DIR/build-gather.log" ) &
wait
for n in "${names[@]}" gather; do echo "   | build $n: $(tail -1 "$OUT_DIR/build-$n.log")" | tee -a "$SUMMARY"; done
ONLY=${PROBE_ONLY:-b128_kv4096_h32_q1_p64,b128_kv4096_h16_q1_p64,b128_kv4096_h64_q1_p64,b128_kv4096_h128_q1_p64}
for r in 1 2; do
  for n in "${names[@]}"; do
    check=0; [[ $n == lib* ]] && check=2  # full kernels: reference-check one request; loads only cannot pass
    step "$n-$r" 60 "build-probe-$n/tools/mla" bench --sweep issue5 --only "$ONLY" --mode "${PROBE_MODE:-layer}" --min-runs 20 \
      --target-ms 20 --check-gflop $check --json "$OUT_DIR/probe.jsonl" --commit "${MLA_COMMIT:-unknown}-$n"
  done
done
step gather 60 ./gather_bw --splits 1
cp "$OUT_DIR/probe.jsonl" "$OUT_DIR/../loads_probe.jsonl"
step_finish probe
