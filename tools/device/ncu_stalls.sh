#!/usr/bin/env bash
# tools/device/ncu_stalls.sh MLA_BINARY CONFIG KERNEL_REGEX - where one
# kernel's warps wait: ncu (WarpStateStats, SourceCounters, InstructionStats,
# SpeedOfLight) of one eager launch of `mla bench --only CONFIG`, then
#   $OUT/ncu-stalls.txt: the details page (stall reasons per instruction
#     issued) and the 60 SASS instructions with the most stall samples, each
#     with its sampled reasons
#   $OUT/ncu-source.csv.gz: the whole SASS source page (CSV)
# Run on the GPU machine after `source .device/enter.sh`, from the
# repository root, e.g.
#   bash tools/device/ncu_stalls.sh build-ab-a/tools/mla \
#     b128_kv4096_h16_q1_p64_bf16fp8 decode_fp8r
set -u
BIN=${1:?mla binary}
CONFIG=${2:?bench config}
KERNEL=${3:?kernel regex}
O=${OUT:-.}
W=${NCU_WORK:-/tmp/ncu-stalls}
mkdir -p "$W"
T=$O/ncu-stalls.txt
export PATH=/usr/local/cuda/bin:$PATH
timeout 150 ncu --clock-control none --section WarpStateStats --section SourceCounters --section InstructionStats \
  --section SpeedOfLight -k "regex:$KERNEL" --launch-count 1 -f -o "$W/rep" \
  "$BIN" bench --sweep fp8 --only "$CONFIG" --mode eager --min-runs 1 --max-runs 1 --warmup 1 --check-gflop 0 \
  >"$W/ncu-run.log" 2>&1
echo "== ncu rc=$? ($CONFIG, $KERNEL)" | tee "$T"
tail -n 5 "$W/ncu-run.log" >>"$T"
timeout 60 ncu --import "$W/rep.ncu-rep" --page details >>"$T" 2>&1
timeout 60 ncu --import "$W/rep.ncu-rep" --page source --csv --print-source sass >"$W/source.csv" 2>"$W/source.err"
echo "== source page rc=$? ($(wc -l <"$W/source.csv") lines)" | tee -a "$T"
head -c 600 "$W/source.err" >>"$T"
gzip -c "$W/source.csv" >"$O/ncu-source.csv.gz"
python3 - "$W/source.csv" >>"$T" 2>&1 <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline='')))
# The header is the first row holding a "Source" column.
h = next(i for i, r in enumerate(rows) if any(c.strip() == 'Source' for c in r))
head, body = rows[h], [r for r in rows[h + 1:] if len(r) == len(rows[h])]
def num(x):
    try:
        return float(x.replace(',', ''))
    except ValueError:
        return 0.0
src = head.index('Source')
total = [i for i, c in enumerate(head) if 'Sampling' in c and 'All' in c]
reasons = [i for i, c in enumerate(head) if c.startswith('stall_') or 'Stall' in c and 'Sampling' not in c]
print('columns:', ' | '.join(head))
if not total:
    sys.exit('no sampling column')
t = total[0]
tot = sum(num(r[t]) for r in body)
print(f'== top instructions by "{head[t]}" (total {tot:.0f})')
for r in sorted(body, key=lambda r: -num(r[t]))[:60]:
    why = sorted(((num(r[i]), head[i]) for i in reasons if num(r[i]) > 0), reverse=True)[:3]
    print(f'{num(r[t]):7.0f} {100 * num(r[t]) / max(tot, 1):5.1f}%  {r[src].strip()[:70]:70s} ' +
          ', '.join(f'{n}={v:.0f}' for v, n in why))
EOF
