#!/usr/bin/env python3
"""tools/device/timeline_report.py FILE.tl ... - the phase table of one graph
replay from the %globaltimer stamps of a timeline build (cuda/src/dev_timeline.cuh).

A timeline build and its files, on the GPU machine:
    meson setup build-tl -Dcuda=enabled -Dvulkan=disabled -Dnvcc_archs=90a -Dbuildtype=release \
      -Dtests=false "-Dcuda_args=['-DMLA_DEV_TIMELINE']" "-Dcpp_args=['-DMLA_DEV_TIMELINE']"
    ninja -C build-tl tools/mla
    MLA_DEV_TIMELINE_OUT=$OUT/tl build-tl/tools/mla bench --sweep issue5 --only CONFIGS \
      --mode graph,layer --check-gflop 0
(one <config>-<mode>.tl a mode: the last replay of its timed series). Times are
us from the replay's first stamp; each row gives min / median / max over the
CTAs that stamped it. One replay is one sample: compare runs, not single rows.
"""
import statistics
import sys

# Slot layout: cuda/src/dev_timeline.cuh (timeline::kCheck ... kSlots).
CHECK, PLANNER, DECODE, DECODE_EVENTS = 0, 512, 1024, 16
COMBINE = DECODE + 256 * DECODE_EVENTS
DECODE_ROWS = [  # (event, label) in the order a CTA passes them
    (0, "decode entry"), (1, "decode past its wait"), (8, "part_begin read"), (9, "first item viewed"),
    (11, "first tile's pages read"), (12, "first tile announced"), (13, "first TMA issued"),
    (2, "first tile issued"), (14, "first Q landed"), (4, "first tile landed"), (5, "last tile landed"), (6, "last item's math done"),
    (10, "item-end barrier passed"), (7, "output stored"), (3, "producer done"),
]


def load(path):
    stamps = {}
    with open(path) as f:
        for line in f:
            slot, ns = line.split()
            stamps[int(slot)] = int(ns)
    return stamps


def report(path):
    s = load(path)
    t0 = min(s.values())
    us = lambda slots: [(s[k] - t0) / 1000 for k in slots if k in s]
    print(f"== {path}: {len(s)} stamps, span {(max(s.values()) - t0) / 1000:.2f} us")

    def row(label, values):
        if values:
            print(f"  {label:26s} n={len(values):3d}  min {min(values):8.2f}  med {statistics.median(values):8.2f}"
                  f"  max {max(values):8.2f}")

    row("page check entry", us(CHECK + 2 * c for c in range(256)))
    row("page check exit", us(CHECK + 2 * c + 1 for c in range(256)))
    for i, label in [(0, "planner entry"), (1, "planner past its wait"), (3, "planner B1 done"),
                     (4, "planner B2 scans done"), (2, "planner exit")]:
        row(label, us([PLANNER + i]))
    for e, label in DECODE_ROWS:
        row(label, us(DECODE + DECODE_EVENTS * c + e for c in range(256)))
    for i, label in enumerate(["combine entry", "combine past its wait", "combine exit"]):
        row(label, us(COMBINE + 3 * c + i for c in range(512)))
    # Per-CTA phase lengths (CTAs that stamped both ends).
    for a, b, label in [(1, 2, "wait -> first issue"), (2, 4, "first issue -> landed"),
                        (4, 5, "first -> last landed"), (5, 6, "last landed -> math done"),
                        (10, 7, "item end -> stored")]:
        d = [(s[DECODE + DECODE_EVENTS * c + b] - s[DECODE + DECODE_EVENTS * c + a]) / 1000 for c in range(256)
             if DECODE + DECODE_EVENTS * c + a in s and DECODE + DECODE_EVENTS * c + b in s]
        row("  " + label, d)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for p in sys.argv[1:]:
        report(p)
