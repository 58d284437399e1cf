#!/usr/bin/env bash
# gather_bw_device_check.sh - builds cuda/src/sm90/dev/gather_bw.cu with nvcc on
# the GPU machine and runs it (one CTA a request, as the decode kernel at B=128;
# then two CTAs a request). Output goes to $OUT/gather_bw.txt.
# Run from the repository root: source .device/enter.sh; bash cuda/src/sm90/dev/gather_bw_device_check.sh
set -u
OUT=${OUT:-$PWD/gather_bw_out}
mkdir -p "$OUT"
BIN=$(mktemp -d)/gather_bw
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,driver_version --format=csv >"$OUT/gather_bw.txt" 2>&1
timeout 120 nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o "$BIN" cuda/src/sm90/dev/gather_bw.cu \
  >>"$OUT/gather_bw.txt" 2>&1 || { echo "build failed"; cat "$OUT/gather_bw.txt"; exit 1; }
echo "== splits 1" >>"$OUT/gather_bw.txt"
timeout 60 "$BIN" --splits 1 --runs 25 >>"$OUT/gather_bw.txt" 2>&1
echo "rc=$?" >>"$OUT/gather_bw.txt"
echo "== splits 2" >>"$OUT/gather_bw.txt"
timeout 60 "$BIN" --splits 2 --runs 21 >>"$OUT/gather_bw.txt" 2>&1
echo "rc=$?" >>"$OUT/gather_bw.txt"
cat "$OUT/gather_bw.txt"
