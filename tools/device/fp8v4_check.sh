#!/usr/bin/env bash
# tools/device/fp8v4_check.sh - first GPU check of the FP16-copy P.V variant
# of the three-consumer fp8-KV kernel (cuda/src/sm90/sm90_fp8v4_*.cuh, on with
# MLA_SM90_FP8V4=1; design and predictions in sm90_fp8v4_config.cuh): one
# build (plus a MLA_SM90_FP8_PROFILE build), the kernel's SASS (QGMMA /
# HGMMA counts), the cuda suite with it on (and MLA_SM90_FP8_SMALLH=0, so
# that tiles of <= 16 rows take it too), the CUDA reliability tables,
# racecheck / synccheck of the sanitizer subset, its clock profile at H128
# q2, and the fp8 bench sweep against the default (three-consumer) kernel,
# twice, with a WG 1 152 / P.V 168 register split of it beside.
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/fp8v4-summary.txt; logs: $OUT/fp8v4-logs.tgz.
set -u
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='test cases|SUMMARY|ERROR|FAILED|error|graph sm90|rc=|GMMA|spill|FP16-copy P.V|profile'
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
step_init fp8v4 "${FP8V4_BUDGET:-570}"
B=build-fp8v4
( meson setup build-fp8v4prof -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release \
    "-Dcuda_args=['-DMLA_SM90_FP8_PROFILE=1']" "-Dcpp_args=['-DMLA_SM90_FP8_PROFILE=1']" > "$OUT_DIR/build-prof.log" 2>&1 &&
  ninja -C build-fp8v4prof tools/mla >> "$OUT_DIR/build-prof.log" 2>&1 ) &
# WG 1 152 / P.V 168 registers (compiles without C75xx, less spill: the
# split the next step, S under the softmax in WG 1, would need).
( meson setup build-fp8v4r152 -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release \
    "-Dcuda_args=['-DMLA_SM90_FP8V4_SOFTMAX_REGS=152']" > "$OUT_DIR/build-r152.log" 2>&1 &&
  ninja -C build-fp8v4r152 tools/mla >> "$OUT_DIR/build-r152.log" 2>&1 ) &
step build 220 bash -c "meson setup $B -Dcuda=enabled -Dvulkan=enabled -Dnvcc_archs=90a -Dbuildtype=release && ninja -C $B tests/cuda/test_cuda tests/reliability/test_reliability_cuda tools/mla"
wait
step sass 30 bash -c "cuobjdump -sass -fun '_ZN3mla9cuda_impl4sm9019decode_fp8v4_kernelENS0_12DecodeParamsE14CUtensorMap_sti' $B/cuda/libmla_cuda.a | grep -oE '(QGMMA|HGMMA)[.A-Z0-9x]*' | sort | uniq -c"
ON=(env MLA_SM90_FP8V4=1)
step suite-smallh0 120 "${ON[@]}" MLA_SM90_FP8_SMALLH=0 $B/tests/cuda/test_cuda
step reliability-cuda 60 "${ON[@]}" MLA_SM90_FP8_SMALLH=0 $B/tests/reliability/test_reliability_cuda
san=(compute-sanitizer --error-exitcode 1 --print-limit 10)
step racecheck 90 "${ON[@]}" "${san[@]}" --tool racecheck --racecheck-report hazard $B/tests/cuda/test_cuda -tc="*sanitizer subset*"
step synccheck 90 "${ON[@]}" "${san[@]}" --tool synccheck $B/tests/cuda/test_cuda -tc="*sanitizer subset*"
step profile 40 "${ON[@]}" build-fp8v4prof/tools/mla bench --sweep fp8 --only b128_kv4096_h128_q2_p64_fp8fp8 --mode eager --min-runs 3 --target-ms 5
BENCH=(bench --sweep fp8 --mode graph --min-runs 20 --target-ms 30)
for r in 1 2; do
  step "bench-v3-$r" 60 $B/tools/mla "${BENCH[@]}" --json "$OUT_DIR/bench-v3-$r.jsonl" --commit "${MLA_COMMIT:-unknown}-fp8v3"
  step "bench-v4-$r" 60 "${ON[@]}" $B/tools/mla "${BENCH[@]}" --json "$OUT_DIR/bench-v4-$r.jsonl" --commit "${MLA_COMMIT:-unknown}-fp8v4"
  step "bench-v4r152-$r" 60 "${ON[@]}" build-fp8v4r152/tools/mla "${BENCH[@]}" --json "$OUT_DIR/bench-v4r152-$r.jsonl" --commit "${MLA_COMMIT:-unknown}-fp8v4r152"
done
step suite 120 "${ON[@]}" $B/tests/cuda/test_cuda
step_finish fp8v4
