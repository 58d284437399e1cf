#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/.

The seeds are committed; run this again only to change them. Python
standard library only (the .npy files are built byte by byte), fixed seed,
so the output is the same on every machine.

  npy/          .npy files of every accepted dtype and version, and some that
                the reader must refuse (truncated, big-endian, Fortran order,
                unknown keys, huge shapes)
  problem_json/ 16 bytes (int32 batch, total_q, num_pages, max_pages) + JSON
  problem_dir/  whole problem directories packed as records of
                [file index][uint32 length][bytes] (see fuzz_problem_dir.cpp)
"""
import json
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = ["problem.json", "q.npy", "q_scales.npy", "kv_pool.npy", "kv_scales.npy",
         "page_table.npy", "q_offsets.npy", "kv_lens.npy"]
DESCR = {"u1": "|u1", "u2": "<u2", "i4": "<i4", "f4": "<f4"}


def npy(dtype, shape, data, version=1, descr=None, fortran=False, extra=""):
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, %s}" % (
        descr or DESCR[dtype], "True" if fortran else "False", shape_text, extra)
    prefix = 10 if version == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    size = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode() + data


def bf16(x):
    u = struct.unpack("<I", struct.pack("<f", x))[0]
    return (u + 0x7FFF + ((u >> 16) & 1)) >> 16


def rows(rng, fmt, n):
    """n rows of a format as bytes: BF16 values ~N(0,1), or E4M3 codes and BF16 rope."""
    out = bytearray()
    for _ in range(n):
        if fmt == "bf16":
            for _ in range(576):
                out += struct.pack("<H", bf16(rng.gauss(0, 1)))
        else:
            for _ in range(512):
                out.append(rng.randrange(0x7F) | (0x80 if rng.random() < 0.5 else 0))  # finite codes
            for _ in range(64):
                out += struct.pack("<H", bf16(rng.gauss(0, 1)))
    return bytes(out)


def ints(values):
    return b"".join(struct.pack("<i", v) for v in values)


def floats(values):
    return b"".join(struct.pack("<f", v) for v in values)


def problem(rng, q_fmt, kv_fmt, mask, heads, page, q_lens, kv_lens, splits=0, invariant=False):
    """The files of one valid problem directory."""
    desc = {"num_heads": heads, "q_format": q_fmt, "kv_format": kv_fmt, "mask": mask,
            "softmax_scale": 0.0416666679, "page_size": page}
    if mask == "sliding_window":
        desc["window"] = 3
    if mask == "chunked":
        desc["chunk"] = 2
    if splits:
        desc["num_splits"] = splits
    if invariant:
        desc["batch_invariant"] = True
    pages = [(k + page - 1) // page for k in kv_lens]
    num_pages = sum(pages) + 1
    max_pages = max(pages + [1])
    order = list(range(num_pages))
    rng.shuffle(order)
    table, it = [], iter(order)
    for n in pages:
        table += [next(it) for _ in range(n)] + [0x7FFFFFFF] * (max_pages - n)
    offsets = [0]
    for q in q_lens:
        offsets.append(offsets[-1] + q)
    total_q = offsets[-1]
    row = 576 if q_fmt == "bf16" else 640
    files = {
        "problem.json": json.dumps(desc).encode(),
        "q.npy": npy("u2" if q_fmt == "bf16" else "u1", (total_q, heads, row), rows(rng, q_fmt, total_q * heads)),
        "kv_pool.npy": npy("u2" if kv_fmt == "bf16" else "u1", (num_pages, page, 576 if kv_fmt == "bf16" else 640),
                           rows(rng, kv_fmt, num_pages * page)),
        "page_table.npy": npy("i4", (len(kv_lens), max_pages), ints(table)),
        "q_offsets.npy": npy("i4", (len(kv_lens) + 1,), ints(offsets)),
        "kv_lens.npy": npy("i4", (len(kv_lens),), ints(kv_lens)),
    }
    if q_fmt == "fp8_rope640":
        files["q_scales.npy"] = npy("f4", (total_q,), floats([2.0 ** rng.randint(-3, 3) for _ in range(total_q)]))
    if kv_fmt == "fp8_rope640":
        files["kv_scales.npy"] = npy("f4", (num_pages, page),
                                     floats([2.0 ** rng.randint(-3, 3) for _ in range(num_pages * page)]))
    return files


def pack(files):
    out = bytearray()
    for name, data in files.items():
        out.append(FILES.index(name))
        out += struct.pack("<I", len(data)) + data
    return bytes(out)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy_seeds(rng):
    write("npy", "u1_v1", npy("u1", (2, 3), bytes(range(6))))
    write("npy", "u2_v2", npy("u2", (3,), struct.pack("<3H", 1, 2, 3), version=2))
    write("npy", "i4_v3", npy("i4", (2, 2), ints([0, -1, 7, 2 ** 31 - 1]), version=3))
    write("npy", "f4_scalar", npy("f4", (), floats([1.5])))
    write("npy", "f4_empty", npy("f4", (0, 4), b""))
    write("npy", "u1_rows", npy("u1", (1, 2, 640), rows(rng, "fp8_rope640", 2)))
    write("npy", "bad_truncated", npy("i4", (4,), ints([1, 2, 3])))
    write("npy", "bad_big_endian", npy("u2", (2,), b"\x00\x01\x00\x02", descr=">u2"))
    write("npy", "bad_fortran", npy("f4", (1, 2), floats([1, 2]), fortran=True))
    write("npy", "bad_key", npy("u1", (1,), b"\x01", extra="'x': 1, "))
    write("npy", "bad_huge_shape", npy("u1", (2 ** 62, 2 ** 62), b""))
    write("npy", "bad_float64", npy("f4", (1,), b"\x00" * 8, descr="<f8"))
    write("npy", "bad_version", b"\x93NUMPY\x04\x00" + npy("u1", (1,), b"\x01")[8:])


def json_seeds(rng):
    shapes = [(3, 5, 9, 4), (1, 1, 1, 1), (0, 0, 0, 0), (2 ** 20, 2 ** 24, 1, 2047), (-1, 7, 2 ** 31 - 1, 0)]
    docs = [
        '{"num_heads": 16, "q_format": "bf16", "kv_format": "bf16", "mask": "causal", '
        '"softmax_scale": 0.0416666679, "page_size": 64}',
        '{"num_heads": 128, "q_format": "fp8_rope640", "kv_format": "fp8_rope640", "mask": "sliding_window", '
        '"window": 128, "softmax_scale": 1e-3, "page_size": 1, "num_splits": 64, "batch_invariant": true}',
        '{"num_heads": 1, "q_format": "bf16", "kv_format": "fp8_rope640", "mask": "chunked", "chunk": 8192, '
        '"softmax_scale": -0.5, "page_size": 512, "num_splits": 0, "batch_invariant": false}',
        '{"num_heads": 20, "q_format": "bf16", "kv_format": "bf16", "mask": "none", '
        '"softmax_scale": 3.40282347e+38, "page_size": 16}',
        '{"num_heads": 0, "q_format": "fp8_rope640", "kv_format": "bf16", "mask": "causal", "window": 4, '
        '"softmax_scale": 1e39, "page_size": 48}',
        '{"num_heads": 8, "q_format": "bf16", "kv_format": "bf16", "mask": "causal", '
        '"softmax_scale": 0.1, "page_size": 16, "extra": [1, {"a": null}, "\\u00e9\\ud83d\\ude00"]}',
    ]
    for i, doc in enumerate(docs):
        json.loads(doc)  # every seed is JSON; the targets decide the rest
        write("problem_json", "doc%d" % i, struct.pack("<4i", *shapes[i % len(shapes)]) + doc.encode())


def dir_seeds(rng):
    cases = [
        ("bf16", "bf16", "causal", 2, 4, [1, 2], [5, 3]),
        ("bf16", "fp8_rope640", "none", 1, 2, [1, 0, 2], [3, 0, 4]),
        ("fp8_rope640", "fp8_rope640", "sliding_window", 2, 1, [2], [6]),
        ("bf16", "bf16", "chunked", 1, 8, [3, 1], [7, 9]),
        ("fp8_rope640", "fp8_rope640", "causal", 1, 2, [1, 1, 1], [2, 1, 4]),
    ]
    for i, (qf, kf, mask, heads, page, q_lens, kv_lens) in enumerate(cases):
        files = problem(rng, qf, kf, mask, heads, page, q_lens, kv_lens, splits=i % 3, invariant=i == 4)
        write("problem_dir", "dir%d" % i, pack(files))
    empty = problem(rng, "bf16", "bf16", "none", 1, 1, [], [])
    write("problem_dir", "empty_batch", pack(empty))


def main():
    rng = random.Random(7)
    npy_seeds(rng)
    json_seeds(rng)
    dir_seeds(rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
