#!/usr/bin/env bash
# Builds the sm_90a development harness with nvcc alone (no meson needed).
# Usage: cuda/src/sm90/dev/build.sh OUT_DIR   (run from the repository root)
# Leaves OUT_DIR/sm90_dev_check, OUT_DIR/sm90_decode_bf16.o,
# OUT_DIR/sm90_decode_fp8.o and the ptxas resource reports OUT_DIR/ptxas*.txt.
set -euo pipefail
out=${1:-build-sm90dev}
mkdir -p "$out"
nvcc_flags=(${MLA_DEV_NVCC_EXTRA:-} -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -Icommon/include -Icuda/src
            -Itests/support -Xcompiler -Wall,-Wextra)
# The kernel, with its register / spill report.
nvcc "${nvcc_flags[@]}" -Xptxas -v -c cuda/src/sm90/sm90_decode_bf16.cu -o "$out/sm90_decode_bf16.o" \
  2> "$out/ptxas.txt" || { cat "$out/ptxas.txt"; exit 1; }
grep -E "registers|spill|C75[0-9][0-9]|warning" "$out/ptxas.txt" || true
nvcc "${nvcc_flags[@]}" -Xptxas -v -c cuda/src/sm90/sm90_decode_fp8.cu -o "$out/sm90_decode_fp8.o" \
  2> "$out/ptxas_fp8.txt" || { cat "$out/ptxas_fp8.txt"; exit 1; }
grep -E "registers|spill|C75[0-9][0-9]|warning" "$out/ptxas_fp8.txt" || true
pids=()
nvcc "${nvcc_flags[@]}" -c cuda/src/sm90/dev/sm90_dev_check.cu -o "$out/sm90_dev_check.o" & pids+=($!)
nvcc "${nvcc_flags[@]}" -c cuda/src/sm90/sm90_tma_map.cu -o "$out/sm90_tma_map.o" & pids+=($!)
nvcc "${nvcc_flags[@]}" -c cuda/src/sm90/dev/sm90_dev_variants.cu -o "$out/sm90_dev_variants.o" & pids+=($!)
nvcc "${nvcc_flags[@]}" -c cuda/src/sm90/dev/sm90_dev_fp8.cu -o "$out/sm90_dev_fp8.o" & pids+=($!)
for f in common/src/*.cpp tests/support/mla_test.cpp cuda/src/sm90/dev/dev_fp8_problems.cpp; do
  g++ -std=c++17 -O2 -Wall -Wextra -Icommon/include -Itests/support -c "$f" -o "$out/$(basename "$f" .cpp).o" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
nvcc -gencode=arch=compute_90a,code=sm_90a "$out"/*.o -o "$out/sm90_dev_check" -ldl
echo "built $out/sm90_dev_check"
