#!/usr/bin/env bash
# fp8_sync_device_check.sh - one GPU call (third session):
#   A. the sm_90a fp8-KV kernel's first run through the library
#      (MLA_SM90_FP8=1): the cuda suite, the reliability tables (NaN / Inf,
#      FP8 stress, device faults) and `mla bench --sweep fp8` against the
#      portable route it replaces;
#   B. where synccheck's "divergent threads" / racecheck's hazards at the
#      Hopper kernel's named barriers come from: racecheck_probe.cu modes 4-6
#      (bar.red vote, PReady / PFree loop) and the cuda suite's sanitizer
#      subset with the kernel built without the per-tile vote
#      (-DMLA_SM90_NONFINITE_CHECK=0);
#   C. the cooperative-matrix Vulkan test cases (the vulkanMemoryModel
#      DeviceScope fix of 9671806, never run on the NVIDIA driver).
# Run from the repository root on the GPU machine after `source
# .device/enter.sh`. Every step under `timeout`; logs in one archive.
set -u
OUT_DIR=${OUT:-$PWD/fp8sync-out}/fp8sync
mkdir -p "$OUT_DIR"
export PATH=/usr/local/cuda/bin:$PATH
T0=$(date +%s)

step() {  # step NAME LIMIT CMD...
  local name=$1 limit=$2
  shift 2
  local start=$(date +%s)
  timeout "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1
  local rc=$?
  echo "== $name rc=$rc after $(($(date +%s) - start))s (total $(($(date +%s) - T0))s)"
  grep -E "SUMMARY|test cases|assertions|mode [0-9]|Barrier error|hazard detected|FAILED|ERROR|rror:" \
    "$OUT_DIR/$name.log" | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/   | /'
}

B=build-gpu
V=build-noprobe
(meson setup $B -Dcuda=enabled -Dvulkan=enabled -Dnvcc_archs=90a -Dbuildtype=release >"$OUT_DIR/setup.log" 2>&1 &&
  timeout 200 ninja -C $B >"$OUT_DIR/build.log" 2>&1; echo "build rc=$?") &
(meson setup $V -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release \
  -Dcuda_args=-DMLA_SM90_NONFINITE_CHECK=0 >"$OUT_DIR/setup-noprobe.log" 2>&1 &&
  timeout 200 ninja -C $V tests/cuda/test_cuda >"$OUT_DIR/build-noprobe.log" 2>&1; echo "build noprobe rc=$?") &
nvcc -O2 -gencode=arch=compute_90a,code=sm_90a cuda/src/sm90/dev/racecheck_probe.cu -o "$OUT_DIR/probe" \
  >"$OUT_DIR/probe-build.log" 2>&1
wait
echo "builds done after $(($(date +%s) - T0))s"

# B. sanitizer probes
for m in 4 5 6; do
  for tool in synccheck racecheck; do
    step "probe-$m-$tool" 20 compute-sanitizer --tool $tool --error-exitcode 1 "$OUT_DIR/probe" $m
  done
done
san=(compute-sanitizer --error-exitcode 1 --print-limit 6)
step synccheck-noprobe 100 env MLA_TEST_KERNELS=sm90 "${san[@]}" --tool synccheck $V/tests/cuda/test_cuda \
  -tc='*sanitizer subset*'
step racecheck-noprobe 120 env MLA_TEST_KERNELS=sm90 "${san[@]}" --tool racecheck --racecheck-report hazard \
  $V/tests/cuda/test_cuda -tc='*sanitizer subset*'

# A. the fp8-KV kernel
step fp8-cuda-suite 150 env MLA_SM90_FP8=1 MLA_REQUIRE_VULKAN=1 $B/tests/cuda/test_cuda
step fp8-reliability 90 env MLA_SM90_FP8=1 $B/tests/reliability/test_reliability_cuda -tc='nan*,fp8 stress*,device faults*'
step fp8-bench-sm90 100 env MLA_SM90_FP8=1 $B/tools/mla bench --sweep fp8 --mode graph,eager --min-runs 20 --target-ms 60 \
  --json "$OUT_DIR/bench-fp8.jsonl" --commit "fp8-sm90"
step fp8-bench-portable 100 env MLA_SM90_FP8=0 $B/tools/mla bench --sweep fp8 --mode graph --min-runs 20 --target-ms 60 \
  --json "$OUT_DIR/bench-fp8.jsonl" --commit "fp8-portable"
grep -E "graph|eager" "$OUT_DIR"/fp8-bench-*.log | grep -vE "^\S+: +\[|rotation" | cut -c1-200

# C. coopmat cases on the NVIDIA driver
step coopmat-cases 60 env MLA_VULKAN_COOPMAT=1 MLA_VULKAN_MATRIX_COUNT=24 $B/tests/vulkan/test_vulkan -tc='coopmat*'

tar czf "$OUT_DIR/../fp8sync-logs.tgz" -C "$OUT_DIR" . && rm -rf "$OUT_DIR"
echo "total $(($(date +%s) - T0))s"
