#!/usr/bin/env bash
# tools/device/fp8v4_check.sh - first GPU check of the FP16-copy P.V variant
# of the three-consumer fp8-KV kernel (cuda/src/sm90/sm90_fp8v4_*.cuh, on with
# MLA_SM90_FP8V4=1; design and predictions in sm90_fp8v4_config.cuh) and of
# its WG 1 overlap (a build with -DMLA_SM90_FP8V4_OVERLAP=1,
# sm90_fp8v4_softmax_wg.cuh). Builds: v4 (Vulkan on, for the suite's
# cross-check), v4 + overlap, a MLA_SM90_FP8_PROFILE build of each, and v4
# with the WG 1 152 / P.V 168 register split. Then for v4 and for the
# overlap: SASS (QGMMA / HGMMA counts), the cuda suite with the kernel on
# and MLA_SM90_FP8_SMALLH=0 (tiles of <= 16 rows take it too), the CUDA
# reliability tables, racecheck / synccheck of the sanitizer subset, the
# clock profile at H128 q2; the fp8 bench sweep of the default
# (three-consumer) kernel, v4, v4 152 / 168 and the overlap, twice; last the
# v4 suite with default keys.
# Run from the repository root on the GPU machine after `source .device/enter.sh`.
# Summary: $OUT/fp8v4-summary.txt; logs: $OUT/fp8v4-logs.tgz.
set -u
export PATH=/usr/local/cuda/bin:$PATH
PATTERN='test cases|SUMMARY|ERROR|FAILED|error|graph sm90|rc=|GMMA|spill|FP16-copy P.V|profile'
source "$(dirname "$0")/../../vulkan/dev/check_step.sh"
step_init fp8v4 "${FP8V4_BUDGET:-570}"
S=(-Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release)
side_build() {  # side_build NAME DEFINES TARGETS...
  local n=$1 d=$2
  shift 2
  ( meson setup "build-$n" "${S[@]}" "-Dcuda_args=[$d]" "-Dcpp_args=[$d]" > "$OUT_DIR/build-$n.log" 2>&1 &&
    ninja -C "build-$n" "$@" >> "$OUT_DIR/build-$n.log" 2>&1
    echo "rc=$?" >> "$OUT_DIR/build-$n.log" ) &
}
T=(tests/cuda/test_cuda tests/reliability/test_reliability_cuda tools/mla)
side_build fp8v4ov "'-DMLA_SM90_FP8V4_OVERLAP=1'" "${T[@]}"
side_build fp8v4prof "'-DMLA_SM90_FP8_PROFILE=1'" tools/mla
side_build fp8v4ovprof "'-DMLA_SM90_FP8V4_OVERLAP=1','-DMLA_SM90_FP8_PROFILE=1'" tools/mla
side_build fp8v4r152 "'-DMLA_SM90_FP8V4_SOFTMAX_REGS=152'" tools/mla
B=build-fp8v4
step build 220 bash -c "meson setup $B -Dcuda=enabled -Dvulkan=enabled -Dnvcc_archs=90a -Dbuildtype=release && ninja -C $B ${T[*]}"
wait
for n in fp8v4ov fp8v4prof fp8v4ovprof fp8v4r152; do echo "   | build $n: $(tail -1 "$OUT_DIR/build-$n.log")" | tee -a "$SUMMARY"; done
ON=(env MLA_SM90_FP8V4=1)
san=(compute-sanitizer --error-exitcode 1 --print-limit 10)
F=_ZN3mla9cuda_impl4sm9019decode_fp8v4_kernelENS0_12DecodeParamsE14CUtensorMap_sti
for b in fp8v4 fp8v4ov; do
  step "sass-$b" 30 bash -c "cuobjdump -sass -fun '$F' build-$b/cuda/libmla_cuda.a | grep -oE '(QGMMA|HGMMA)[.A-Z0-9x]*' | sort | uniq -c"
  step "suite-smallh0-$b" 120 "${ON[@]}" MLA_SM90_FP8_SMALLH=0 "build-$b/tests/cuda/test_cuda"
  step "reliability-$b" 60 "${ON[@]}" MLA_SM90_FP8_SMALLH=0 "build-$b/tests/reliability/test_reliability_cuda"
  step "racecheck-$b" 90 "${ON[@]}" "${san[@]}" --tool racecheck --racecheck-report hazard "build-$b/tests/cuda/test_cuda" -tc="*sanitizer subset*"
  step "synccheck-$b" 90 "${ON[@]}" "${san[@]}" --tool synccheck "build-$b/tests/cuda/test_cuda" -tc="*sanitizer subset*"
done
for b in fp8v4prof fp8v4ovprof; do
  step "profile-$b" 40 "${ON[@]}" "build-$b/tools/mla" bench --sweep fp8 --only b128_kv4096_h128_q2_p64_fp8fp8 --mode eager --min-runs 3 --target-ms 5
done
BENCH=(bench --sweep fp8 --mode graph --min-runs 20 --target-ms 30)
for r in 1 2; do
  step "bench-v3-$r" 60 $B/tools/mla "${BENCH[@]}" --json "$OUT_DIR/bench-v3-$r.jsonl" --commit "${MLA_COMMIT:-unknown}-fp8v3"
  for b in fp8v4 fp8v4r152 fp8v4ov; do
    step "bench-$b-$r" 60 "${ON[@]}" "build-$b/tools/mla" "${BENCH[@]}" --json "$OUT_DIR/bench-$b-$r.jsonl" --commit "${MLA_COMMIT:-unknown}-$b"
  done
done
step suite 120 "${ON[@]}" $B/tests/cuda/test_cuda
step_finish fp8v4
