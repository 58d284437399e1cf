#!/usr/bin/env bash
# tools/device/fp8v3_check.sh - first GPU check of the three-consumer fp8-KV
# kernel (cuda/src/sm90/sm90_fp8v3_*.cuh; ran in the twelfth session, and the
# kernel is the default since: MLA_SM90_FP8V3=1 below is the default, =0 the
# two-consumer kernel): one build,
# the SASS of the kernel (QGMMA / HGMMA counts), the cuda suite with it on
# (MLA_SM90_FP8_SMALLH=0 too, so that tiles of <= 16 rows take it as well),
# the fp8 bench sweep with MLA_SM90_FP8V3=0 (the two-consumer register-V
# kernel) and =1, the CUDA reliability tables and racecheck /
# synccheck of the sanitizer subset with it on, then the default-key suite
# and a second bench pair.
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/fp8v3-summary.txt; logs: $OUT/fp8v3-logs.tgz.
set -u
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='test cases|SUMMARY|ERROR|FAILED|error|graph sm90|rc=|GMMA|spill|fp8|worst|three-consumer'
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
step_init fp8v3 "${FP8V3_BUDGET:-570}"
B=build-fp8v3
step build 220 bash -c "meson setup $B -Dcuda=enabled -Dvulkan=enabled -Dnvcc_archs=90a -Dbuildtype=release && ninja -C $B tests/cuda/test_cuda tests/reliability/test_reliability_cuda tools/mla"
step sass 30 bash -c "cuobjdump -sass -fun '_ZN3mla9cuda_impl4sm9019decode_fp8v3_kernelENS0_12DecodeParamsE14CUtensorMap_sti' $B/cuda/libmla_cuda.a | grep -oE '(QGMMA|HGMMA)[.A-Z0-9x]*' | sort | uniq -c"
ON=(env MLA_SM90_FP8V3=1)
step suite-smallh0 120 "${ON[@]}" MLA_SM90_FP8_SMALLH=0 $B/tests/cuda/test_cuda
BENCH=(bench --sweep fp8 --mode graph --min-runs 20 --target-ms 30)
step bench-a 60 env MLA_SM90_FP8V3=0 $B/tools/mla "${BENCH[@]}" --json "$OUT_DIR/bench-a.jsonl" --commit "${MLA_COMMIT:-unknown}-fp8v"
step bench-b 60 "${ON[@]}" $B/tools/mla "${BENCH[@]}" --json "$OUT_DIR/bench-b.jsonl" --commit "${MLA_COMMIT:-unknown}-fp8v3"
step reliability-cuda 60 "${ON[@]}" MLA_SM90_FP8_SMALLH=0 $B/tests/reliability/test_reliability_cuda
san=(compute-sanitizer --error-exitcode 1 --print-limit 10)
step racecheck 90 "${ON[@]}" "${san[@]}" --tool racecheck --racecheck-report hazard $B/tests/cuda/test_cuda -tc="*sanitizer subset*"
step synccheck 90 "${ON[@]}" "${san[@]}" --tool synccheck $B/tests/cuda/test_cuda -tc="*sanitizer subset*"
step suite 120 "${ON[@]}" $B/tests/cuda/test_cuda
step bench-a2 60 env MLA_SM90_FP8V3=0 $B/tools/mla "${BENCH[@]}" --json "$OUT_DIR/bench-a2.jsonl" --commit "${MLA_COMMIT:-unknown}-fp8v"
step bench-b2 60 "${ON[@]}" $B/tools/mla "${BENCH[@]}" --json "$OUT_DIR/bench-b2.jsonl" --commit "${MLA_COMMIT:-unknown}-fp8v3"
step_finish fp8v3
