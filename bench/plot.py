#!/usr/bin/env python3
"""Roofline-style plot of `mla bench` results (JSON lines, see bench/README.md).

For each results file, one PNG beside it (same name, .png):
  top:    each config's achieved share of the limit that binds it, measured in
          the same run: % of the device-copy bandwidth for memory-bound configs,
          % of the cuBLAS BF16 GEMM rate for compute-bound ones. One bar group
          per config, one bar per (mode, --kernel); a line at 100% and a tick at
          the issue's target where there is one.
  bottom: configs compared with a baseline config (uneven vs even batch, page
          sizes vs 64, odd head counts, FP8 vs BF16): time ratio, with a tick at
          the largest ratio the issue allows.

usage: python3 bench/plot.py [FILE.jsonl ...]   (default: bench/results/*.jsonl)
"""
import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only; no display on the build machines
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    # The smoke sweep checks that everything runs; its tiny shapes are not
    # meant to reach the limits and would only crowd the plot.
    return [r for r in rows if "error" not in r and r.get("time_us") is not None and r.get("sweep") != "smoke"]


def series_key(r):
    # By the kernel asked for: `auto` runs the Hopper kernel on some configs and
    # the portable one on others, and stays one series.
    return "%s %s" % (r["mode"], r.get("kernel_requested") or r["kernel"])


def target_of(r, key):
    """The number in the row's target text for 'copy>=', 'gemm>=' or 'ratio<='."""
    for part in (r.get("target") or "").split(","):
        part = part.strip()
        if part.startswith(key):
            return float(part[len(key):].rstrip("%"))
    return None


def bars(ax, configs, series, colors, value, ylabel, title, ref_line):
    # Only the series with a value in this panel get a slot, each in the same
    # colour in every panel.
    present = [s for s in series if any(value(c, s) is not None for c in configs)]
    top = 0.0
    width = 0.8 / max(1, len(present))
    for i, s in enumerate(present):
        xs, ys = [], []
        for j, c in enumerate(configs):
            v = value(c, s)
            if v is not None:
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(v)
                top = max(top, v)
        ax.bar(xs, ys, width, label=s, color=colors[s])
    ax.set_xticks(range(len(configs)))
    ax.set_xlim(-0.6, len(configs) - 0.4)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    # Head room above the tallest bar (and the 100% line) keeps the legend off the bars.
    ax.set_ylim(0, max(top, ref_line) * 1.22)
    ax.legend(fontsize=7, ncol=len(present), loc="upper right", framealpha=0.9)


def plot(path):
    rows = load(path)
    if not rows:
        print("%s: no results" % path, file=sys.stderr)
        return None
    by = {}
    configs, series = [], []
    for r in rows:
        by[(r["config"], series_key(r))] = r
        if r["config"] not in configs:
            configs.append(r["config"])
        if series_key(r) not in series:
            series.append(series_key(r))
    first = rows[0]
    have_limits = first.get("copy_gbps") is not None
    ratio_configs = [c for c in configs if any(by.get((c, s), {}).get("ratio") is not None for s in series)]

    fig, axes = plt.subplots(2 if ratio_configs else 1, 1, figsize=(max(10, 0.55 * len(configs) + 3), 9 if ratio_configs else 5.5),
                             squeeze=False)
    ax = axes[0][0]

    def pct(c, s):
        r = by.get((c, s))
        if r is None or not have_limits:
            return None
        if not r.get("bound"):  # no GEMM rate (a Vulkan run without CUDA): the copy is the only limit
            return r.get("pct_copy")
        return r["pct_copy"] if r["bound"] == "memory" else r["pct_gemm"]

    colors = {s: "C%d" % i for i, s in enumerate(series)}
    bars(ax, configs, series, colors, pct, "% of the binding limit",
         "%s, %s: achieved vs the same run's limits (copy %.0f GB/s, %s); commit %s"
         % (first.get("card"), first.get("backend"), first.get("copy_gbps") or 0,
            "BF16 GEMM %.0f TFLOPS" % first["gemm_tflops"] if first.get("gemm_tflops") else "no GEMM rate",
            first.get("commit")), 100)
    labels = []
    for j, c in enumerate(configs):
        r = next((by[(c, s)] for s in series if (c, s) in by), None)
        bound = {"memory": "copy", "compute": "GEMM"}.get(r.get("bound"), "copy" if r.get("pct_copy") is not None else "?")
        labels.append("%s\n[%s]" % (c, bound))
        t = target_of(r, "copy>=") if bound == "copy" else target_of(r, "gemm>=")
        if t is not None:
            ax.plot([j - 0.45, j + 0.45], [t, t], color="black", linestyle=":", linewidth=1.5)
    ax.axhline(100, color="red", linewidth=1)
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)

    if ratio_configs:
        ax2 = axes[1][0]

        def ratio(c, s):
            r = by.get((c, s))
            return None if r is None else r.get("ratio")

        bars(ax2, ratio_configs, series, colors, ratio, "time / baseline time",
             "against a baseline config (dotted: the largest ratio the issue allows)", 1.0)
        labels = []
        for j, c in enumerate(ratio_configs):
            r = next((by[(c, s)] for s in series if (c, s) in by), None)
            labels.append("%s\nvs %s" % (c, r.get("baseline")))
            t = target_of(r, "ratio<=")
            if t is not None:
                ax2.plot([j - 0.45, j + 0.45], [t, t], color="black", linestyle=":", linewidth=1.5)
        ax2.axhline(1.0, color="red", linewidth=1)
        ax2.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)

    fig.tight_layout()
    out = os.path.splitext(path)[0] + ".png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    files = argv[1:] or sorted(glob.glob(os.path.join(here, "results", "*.jsonl")))
    if not files:
        print("no results files", file=sys.stderr)
        return 1
    for f in files:
        out = plot(f)
        if out:
            print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
