#!/usr/bin/env bash
# tools/device/dev_variants.sh "name:-DX=1 -DY=2" ... - builds the sm_90a
# development harness (cuda/src/sm90/dev/build.sh) once per variant, in
# parallel, then runs its bench (full / no loads / no math per config) for
# each, in the order given and then once more, so that every variant is
# timed twice on the same card. MLA_DEV_BENCH_ONLY picks the configs.
# Run on the GPU machine from the repository root after `source
# .device/enter.sh`. Logs: $OUT/dev-<name>-<run>.log; builds: .sm90dev-<name>.
set -u
export PATH=/usr/local/cuda/bin:$PATH
O=${OUT:-/tmp/dev-variants}
mkdir -p "$O"
names=()
for spec in "$@"; do
  name=${spec%%:*}
  flags=${spec#*:}
  names+=("$name")
  (MLA_DEV_NVCC_EXTRA="$flags" timeout 240 cuda/src/sm90/dev/build.sh ".sm90dev-$name" > "$O/build-$name.log" 2>&1
   echo "build $name rc=$?") &
done
wait
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
for run in 1 2; do
  for name in "${names[@]}"; do
    echo "== $name run $run"
    timeout 120 ".sm90dev-$name/sm90_dev_check" bench > "$O/dev-$name-$run.log" 2>&1
    echo "rc=$?"
    grep -vE '^card' "$O/dev-$name-$run.log" | grep -E '^ *H|decode us' | cut -c1-230
  done
done
