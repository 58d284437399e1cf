#!/usr/bin/env python3
"""vulkan/dev/pipeline_sass.py - the SASS the NVIDIA Vulkan driver compiled
for each pipeline, from a pipeline-cache file (a diagnostic; no effect on
the library).

Write the cache with the library's own option, on the GPU machine:

    MLA_VULKAN_PIPELINE_CACHE=/tmp/pc.bin MLA_VULKAN_PIPELINE_STATS=1 \\
        build/tools/mla bench --backend vulkan --sweep issue3 --min-runs 1

then, anywhere nvdisasm (CUDA 12.x / 13.x) runs:

    python3 vulkan/dev/pipeline_sass.py /tmp/pc.bin OUTDIR [--nvdisasm PATH] [--arch SM90]

OUTDIR gets p<i>.sass per pipeline (in the cache's order) and a summary on
stdout: code bytes, instructions, and counts of the opcodes worth watching
(HMMA, LDSM, MOVM, BAR, BRA, local memory). Match a pipeline to its name by
its code bytes: MLA_VULKAN_PIPELINE_STATS=1 prints each pipeline's
"Binary Size".

What the file holds (driver 580, seen on an H200; not documented by NVIDIA,
so this may break with another driver): the 32-byte Vulkan header, then one
record per pipeline: a little-endian u32 (the compressed size + 4), the tag
"CPKV", hashes, and a zstd frame. The frame decompresses to a blob that
starts with "NVDANVVMNVuc"; its u32 at 0x4c is the code size in bytes and
its u32 at 0x50 + 8 the offset of the code, raw SM90 instructions that
`nvdisasm -b SM90` reads.
"""
import argparse
import collections
import os
import re
import struct
import subprocess
import sys
import tempfile

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WATCH = ["HMMA", "LDSM", "MOVM", "LDS", "STS", "LDG", "BAR", "BRA", "LDL", "STL", "F2FP", "SHFL"]


def records(blob):
    """(index, decompressed bytes) of each zstd record."""
    starts = [m.start() for m in re.finditer(re.escape(ZSTD_MAGIC), blob)]
    for i, o in enumerate(starts):
        if o < 48:
            continue
        size = struct.unpack("<I", blob[o - 48:o - 44])[0] - 4
        if size <= 0 or o + size > len(blob):
            continue  # a magic inside another record's data
        with tempfile.TemporaryDirectory() as t:
            src, dst = os.path.join(t, "r.zst"), os.path.join(t, "r.bin")
            with open(src, "wb") as f:
                f.write(blob[o:o + size])
            r = subprocess.run(["zstd", "-d", "-q", "-f", src, "-o", dst], capture_output=True)
            if r.returncode != 0:
                continue
            with open(dst, "rb") as f:
                yield i, f.read()


def code_of(rec):
    if not rec.startswith(b"NVDANVVMNVuc") or len(rec) < 0x54:
        return None
    size = struct.unpack("<I", rec[0x4c:0x50])[0]
    start = struct.unpack("<I", rec[0x50:0x54])[0] + 8
    if size == 0 or start + size > len(rec):
        return None
    return rec[start:start + size]


def opcode(line):
    t = line.split()
    op = t[1] if t and t[0].startswith("@") and len(t) > 1 else (t[0] if t else "")
    return op.split(".")[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cache")
    ap.add_argument("outdir")
    ap.add_argument("--nvdisasm", default="nvdisasm")
    ap.add_argument("--arch", default="SM90")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    with open(a.cache, "rb") as f:
        blob = f.read()
    n = 0
    print(f"{'file':10} {'bytes':>8} {'instr':>6}  " + " ".join(f"{w:>5}" for w in WATCH))
    for i, rec in records(blob):
        code = code_of(rec)
        if code is None:
            continue
        with tempfile.NamedTemporaryFile(suffix=".bin") as t:
            t.write(code)
            t.flush()
            r = subprocess.run([a.nvdisasm, "-b", a.arch, t.name], capture_output=True, text=True)
        name = f"p{n}.sass"
        with open(os.path.join(a.outdir, name), "w") as f:
            f.write(r.stdout + r.stderr)
        ins = [m.group(1) for m in re.finditer(r"/\*[0-9a-f]+\*/\s+(.*?)\s*;", r.stdout)]
        c = collections.Counter(opcode(s) for s in ins)
        print(f"{name:10} {len(code):8} {len(ins):6}  " + " ".join(f"{c[w]:5}" for w in WATCH))
        n += 1
    if n == 0:
        sys.exit("no pipeline code found (another driver's format?)")


if __name__ == "__main__":
    main()
