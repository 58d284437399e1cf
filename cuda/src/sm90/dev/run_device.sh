#!/usr/bin/env bash
# Runs on the GPU machine (device tool), from the repository root, after
# `source .device/enter.sh`: correctness checks, SASS evidence, timings.
# Uses the harness prebuilt here in .sm90dev/ (see build.sh) and rebuilds it
# there only if it does not start. Logs go to $OUT.
set -uo pipefail
out=${OUT:-/tmp/sm90out}
mkdir -p "$out"
bin=.sm90dev
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu \
  --format=csv | tee "$out/smi.txt"
"$bin/sm90_dev_check" usage >/dev/null 2>&1
if [ $? -ne 2 ]; then
  echo "prebuilt harness does not start here: rebuilding"
  cuda/src/sm90/dev/build.sh "$bin" > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
fi
cuobjdump -sass "$bin/sm90_decode_bf16.o" > "$out/sass.txt" 2>&1
echo "SASS: $(grep -c HGMMA "$out/sass.txt") HGMMA, $(grep -cE 'LDL|STL' "$out/sass.txt") LDL/STL," \
  "$(grep -c 'LDGSTS' "$out/sass.txt") LDGSTS; shapes: $(grep -o 'HGMMA\.[0-9A-Za-z]*' "$out/sass.txt" | sort | uniq -c | tr '\n' ' ')"
cuobjdump -sass "$bin/sm90_decode_fp8.o" > "$out/sass_fp8.txt" 2>&1
echo "SASS fp8: $(grep -cE 'LDL|STL' "$out/sass_fp8.txt") LDL/STL; shapes:" \
  "$(grep -oE '[QH]GMMA\.[0-9A-Za-z.]*' "$out/sass_fp8.txt" | sort | uniq -c | tr '\n' ' ')"
what=${1:-all}
timeout 60 "$bin/sm90_dev_check" check quick > "$out/check_quick.log" 2>&1
rc=$?
tail -15 "$out/check_quick.log"
if [ $rc -eq 124 ]; then echo "quick check HUNG"; exit 1; fi
if [ "$what" = all ] || [ "$what" = check ]; then
  timeout 300 "$bin/sm90_dev_check" check > "$out/check.log" 2>&1
  echo "full check rc=$?"; grep -c PASS "$out/check.log"; grep FAIL "$out/check.log" | head -5 | cut -c1-400
  tail -2 "$out/check.log"
fi
if [ "$what" = all ] || [ "$what" = bench ]; then
  timeout 300 "$bin/sm90_dev_check" bench "$out/bench.jsonl" 2>&1 | tee "$out/bench.log"
fi
if [ "$what" = all ] || [ "$what" = bench ] || [ "$what" = fp8 ]; then
  timeout 200 "$bin/sm90_dev_check" bench-fp8 "$out/bench_fp8.jsonl" 2>&1 | tee "$out/bench_fp8.log"
fi
if [ "$what" = all ] || [ "$what" = sanitize ]; then
  timeout 180 compute-sanitizer --tool memcheck "$bin/sm90_dev_check" check quick > "$out/memcheck.log" 2>&1
  echo "memcheck rc=$?"; tail -3 "$out/memcheck.log"
fi
