#!/usr/bin/env bash
# tools/device/fp8v_ab.sh - variants of the register-V fp8-KV kernel (nvcc
# defines; since the twelfth session the default build runs its
# three-consumer form, MLA_SM90_FP8V3 unset) timed against the normal build
# and against the FP16-copy kernel
# (MLA_SM90_FP8V=0), graph replay, twice each: H128 q2 (the fp8 sweep's
# config) and H32 / H64 / H128 q1, all (fp8, fp8), B=128, kv_len 4096.
#   FP8V_VARIANTS  "name:-DX=1 -DY=2 name2:..." (builds of tools/mla)
#   FP8V_TESTS=1   also the cuda suite on each variant
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/fp8vab-summary.txt; logs: $OUT/fp8vab-logs.tgz.
set -u
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='test cases|ERROR|FAILED|error|graph sm90|rc=|fp8_rope640/fp8_rope640|LSE error / tolerance'
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
STEP_LINES=20
step_init fp8vab "${FP8VAB_BUDGET:-570}"
VARIANTS=("base:" ${FP8V_VARIANTS:-})
targets="tools/mla" vk=disabled
# With the tests, Vulkan on: the suite's CUDA vs Vulkan test needs it.
[ "${FP8V_TESTS:-0}" = 1 ] && targets="tools/mla tests/cuda/test_cuda tests/reliability/test_reliability_cuda" vk=enabled
pids=()
for v in "${VARIANTS[@]}"; do
  n=${v%%:*} d=${v#*:}
  ( meson setup "build-$n" -Dcuda=enabled -Dvulkan=$vk -Dnvcc_archs=90a -Dbuildtype=release \
      -Dcuda_args="$d" -Dcpp_args="$d" > "$OUT_DIR/build-$n.log" 2>&1 && ninja -C "build-$n" $targets >> "$OUT_DIR/build-$n.log" 2>&1
    echo "rc=$?" >> "$OUT_DIR/build-$n.log" ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for v in "${VARIANTS[@]}"; do echo "   | build ${v%%:*}: $(tail -1 "$OUT_DIR/build-${v%%:*}.log")" | tee -a "$SUMMARY"; done
if [ "${FP8V_TESTS:-0}" = 1 ]; then
  # The sm_90a kernel only (the portable ones do not change with these defines).
  for v in "${VARIANTS[@]}"; do
    step "suite-${v%%:*}" 120 env MLA_TEST_KERNELS=auto "build-${v%%:*}/tests/cuda/test_cuda"
    step "reliability-${v%%:*}" 60 "build-${v%%:*}/tests/reliability/test_reliability_cuda"
  done
fi
ONE=(--batch 128 --kv-len 4096 --q-format fp8_rope640 --kv-format fp8_rope640 --mode graph --min-runs 20 --target-ms 30)
run_set() {  # run_set NAME ENV BUILD ROUND
  step "h128q2-$1-$4" 40 env $2 "build-$3/tools/mla" bench --sweep fp8 --only b128_kv4096_h128_q2_p64_fp8fp8 --mode graph --min-runs 20 --target-ms 30 --json "$OUT_DIR/ab.jsonl" --commit "${MLA_COMMIT:-unknown}-$1"
  for h in 32 64 128; do
    step "h${h}q1-$1-$4" 40 env $2 "build-$3/tools/mla" bench --heads "$h" --q-len 1 "${ONE[@]}" --json "$OUT_DIR/ab.jsonl" --commit "${MLA_COMMIT:-unknown}-$1"
  done
}
for r in 1 2; do
  run_set copy MLA_SM90_FP8V=0 base "$r"
  for v in "${VARIANTS[@]}"; do run_set "${v%%:*}" MLA_SM90_FP8V=1 "${v%%:*}" "$r"; done
done
step_finish fp8vab
