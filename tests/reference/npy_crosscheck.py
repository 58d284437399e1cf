#!/usr/bin/env python3
"""Cross-check of `mla run` against an independent numpy computation.

Usage: npy_crosscheck.py PATH/TO/mla

Random problems (paged with shuffled pages, ragged q_len 0..16, kv_len 0, every
mask, the three format pairs) are generated here, written in the `mla` file
contract (problem.json + .npy, in all three .npy header versions), run through
`mla run --backend reference`, and compared with a float64 numpy computation of
the contract whose BF16 and FP8 E4M3 decoding is written here from the format
definitions. Then bad inputs (wrong dtype, missing file, bad page_size, ...)
must exit non-zero with a message naming the field, the value and the bound,
and must write no output. Device backends are tried too: when present they
must agree within the BF16 tolerance, otherwise they must say why not.

numpy is required: without it this test fails (it never skips).
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("FAIL: numpy is not installed for " + sys.executable +
          " (apt-get install python3-numpy); the cross-check cannot run")
    sys.exit(1)

MASKS = ["none", "causal", "sliding_window", "chunked"]
PAIRS = [("bf16", "bf16"), ("bf16", "fp8_rope640"), ("fp8_rope640", "fp8_rope640")]
FAILURES = []


def fail(msg):
    FAILURES.append(msg)
    print("FAIL: " + msg)


# ---------------------------------------------------------------- formats

def bf16_bits(x):
    """float -> BF16 bit patterns, round to nearest even (inputs are finite)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    """BF16 bit patterns -> float64, from the field layout (1-8-7)."""
    b = bits.astype(np.int64)
    sign = np.where(b >> 15, -1.0, 1.0)
    exp = (b >> 7) & 0xFF
    man = (b & 0x7F).astype(np.float64)
    with np.errstate(over="ignore"):
        normal = (1.0 + man / 128.0) * np.exp2(exp.astype(np.float64) - 127.0)
    val = np.where(exp == 0, man / 128.0 * 2.0 ** -126, normal)
    val = np.where(exp == 0xFF, np.where(man == 0, np.inf, np.nan), val)
    return sign * val


def e4m3_value(codes):
    """FP8 E4M3 (OCP e4m3fn: bias 7, no infinities, S.1111.111 is NaN) -> float64."""
    c = codes.astype(np.int64)
    sign = np.where(c >> 7, -1.0, 1.0)
    exp = (c >> 3) & 0xF
    man = (c & 7).astype(np.float64)
    val = np.where(exp == 0, man / 8.0 * 2.0 ** -6, (1.0 + man / 8.0) * np.exp2(exp.astype(np.float64) - 7.0))
    val = np.where((exp == 15) & (c & 7 == 7), np.nan, val)
    return sign * val


def random_rows(rng, n, fmt):
    """n random rows in a storage format: uint16 [n, 576] or uint8 [n, 640]."""
    if fmt == "bf16":
        return bf16_bits(rng.standard_normal((n, 576)))
    rows = np.empty((n, 640), dtype=np.uint8)
    codes = rng.integers(0, 254, size=(n, 512))          # every finite code ...
    rows[:, :512] = np.where(codes >= 0x7F, codes + 1, codes)  # ... skipping 0x7F (NaN); 0xFF is past 254
    rope = bf16_bits(rng.standard_normal((n, 64)) * 64.0)
    rows[:, 512:] = rope.astype("<u2").view(np.uint8).reshape(n, 128)
    return rows


def decode_rows(rows, fmt):
    """Stored rows -> float64 [n, 576] without their scales."""
    if fmt == "bf16":
        return bf16_value(rows)
    rope = rows[:, 512:].copy().view("<u2")
    return np.concatenate([e4m3_value(rows[:, :512]), bf16_value(rope)], axis=1)


# ---------------------------------------------------------------- problems

def make_problem(rng, mask, q_fmt, kv_fmt, heads=None, page_size=None, q_lens=None, kv_lens=None):
    H = heads or int(rng.choice([1, 3, 8, 16, 20, 64]))
    P = page_size or int(2 ** rng.integers(0, 10))
    if kv_lens is None:
        B = int(rng.integers(1, 6))
        kv_lens = [int(rng.choice([0, rng.integers(1, 9), P + int(rng.integers(-1, 2)), rng.integers(1, 400)]))
                   for _ in range(B)]
        q_lens = [int(rng.integers(0, 17)) for _ in range(B)]
        if mask == "none":
            kv_lens[0], q_lens[0] = 0, 2  # no visible key: output 0, LSE -inf
    B = len(kv_lens)
    kv_lens = [max(0, k) for k in kv_lens]
    if mask != "none":
        q_lens = [min(q, k) for q, k in zip(q_lens, kv_lens)]
    span = max(kv_lens + [1]) + 3
    prob = {"num_heads": H, "q_format": q_fmt, "kv_format": kv_fmt, "mask": mask,
            "softmax_scale": float(np.float32(1.0 / math.sqrt(576) * rng.uniform(0.5, 2))), "page_size": P}
    if mask == "sliding_window":
        prob["window"] = int(rng.integers(1, span))
    if mask == "chunked":
        prob["chunk"] = int(rng.integers(1, span))
    if rng.integers(0, 2):
        prob["num_splits"] = int(rng.integers(0, 65))
        prob["batch_invariant"] = bool(rng.integers(0, 2))

    # Pages: ceil(kv_len / P) per request from a shuffled pool with spares.
    need = [(k + P - 1) // P for k in kv_lens]
    max_pages = max(need + [0]) + 1
    num_pages = sum(need) + 2
    order = rng.permutation(num_pages)
    page_table = np.full((B, max_pages), 10 ** 9, dtype=np.int32)  # unused entries: garbage
    at = 0
    for b in range(B):
        page_table[b, :need[b]] = order[at:at + need[b]]
        at += need[b]
    width = 576 if kv_fmt == "bf16" else 640
    kv_dtype = np.uint16 if kv_fmt == "bf16" else np.uint8
    pool = np.full((num_pages * P, width), np.iinfo(kv_dtype).max, dtype=kv_dtype)  # NaN in free slots
    kv_scales = np.full(num_pages * P, np.nan, dtype=np.float32)
    for b in range(B):
        t = np.arange(kv_lens[b])
        slots = page_table[b, t // P].astype(np.int64) * P + t % P
        pool[slots] = random_rows(rng, kv_lens[b], kv_fmt)
        kv_scales[slots] = np.exp2(rng.uniform(-9, -5, kv_lens[b])).astype(np.float32)
    total_q = sum(q_lens)
    q_width = 576 if q_fmt == "bf16" else 640
    q = random_rows(rng, total_q * H, q_fmt).reshape(total_q, H, q_width)
    files = {
        "q.npy": q,
        "kv_pool.npy": pool.reshape(num_pages, P, width),
        "page_table.npy": page_table,
        "q_offsets.npy": np.concatenate([[0], np.cumsum(q_lens)]).astype(np.int32),
        "kv_lens.npy": np.array(kv_lens, dtype=np.int32),
    }
    if q_fmt == "fp8_rope640":
        files["q_scales.npy"] = np.exp2(rng.uniform(-9, -5, total_q)).astype(np.float32)
    if kv_fmt == "fp8_rope640":
        files["kv_scales.npy"] = kv_scales.reshape(num_pages, P)
    return prob, files


def visible(mask, prob, kv_len, pos):
    """The contract's mask on (query position pos, every key k < kv_len)."""
    k = np.arange(kv_len)
    if mask == "none":
        return np.ones(kv_len, dtype=bool)
    vis = k <= pos
    if mask == "sliding_window":
        vis &= pos - k < prob["window"]
    if mask == "chunked":
        vis &= k // prob["chunk"] == pos // prob["chunk"]
    return vis


def expected(prob, files):
    """float64 output [total_q, H, 512], LSE [total_q, H] and the weighted |V| magnitude."""
    H, P, mask = prob["num_heads"], prob["page_size"], prob["mask"]
    q_fmt, kv_fmt = prob["q_format"], prob["kv_format"]
    q = files["q.npy"]
    total_q = q.shape[0]
    qv = decode_rows(q.reshape(total_q * H, q.shape[2]), q_fmt).reshape(total_q, H, 576)
    sq = files["q_scales.npy"].astype(np.float64) if q_fmt != "bf16" else np.ones(total_q)
    pool = files["kv_pool.npy"]
    flat = pool.reshape(-1, pool.shape[-1])
    ks = files["kv_scales.npy"].reshape(-1).astype(np.float64) if kv_fmt != "bf16" else None
    out = np.zeros((total_q, H, 512))
    mag = np.zeros((total_q, H, 512))
    lse = np.zeros((total_q, H))
    qo, kvl, pt = files["q_offsets.npy"], files["kv_lens.npy"], files["page_table.npy"]
    for b in range(len(kvl)):
        kv_len, q0, q_len = int(kvl[b]), int(qo[b]), int(qo[b + 1] - qo[b])
        t = np.arange(kv_len)
        slots = pt[b, t // P].astype(np.int64) * P + t % P
        K = decode_rows(flat[slots], kv_fmt)
        sk = ks[slots] if ks is not None else np.ones(kv_len)
        V = sk[:, None] * K[:, :512]
        for i in range(q_len):
            vis = visible(mask, prob, kv_len, kv_len - q_len + i)
            row = q0 + i
            if not vis.any():
                lse[row] = -np.inf
                continue
            s = prob["softmax_scale"] * sq[row] * (qv[row] @ K[vis].T) * sk[vis][None, :]  # [H, keys]
            m = s.max(axis=1, keepdims=True)
            w = np.exp(s - m)
            l = w.sum(axis=1, keepdims=True)
            lse[row] = (m + np.log(l))[:, 0]
            out[row] = (w / l) @ V[vis]
            mag[row] = (w / l) @ np.abs(V[vis])
    return out, lse, mag


# ---------------------------------------------------------------- files and runs

def save(d, prob, files, versions=((1, 0),)):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "problem.json"), "w") as f:
        json.dump(prob, f)
    for i, (name, arr) in enumerate(sorted(files.items())):
        with open(os.path.join(d, name), "wb") as f:
            np.lib.format.write_array(f, np.ascontiguousarray(arr), version=versions[i % len(versions)])


def run_mla(mla, inputs, out, backend="reference"):
    return subprocess.run([mla, "run", "--inputs", inputs, "--backend", backend, "--out", out],
                          capture_output=True, text=True, timeout=300)


def check_result(tag, out_dir, want, want_lse, mag, bf16_tol=False):
    """Records a failure and returns False when the result files disagree with numpy."""
    err = compare_result(tag, out_dir, want, want_lse, mag, bf16_tol)
    if err:
        fail(err)
    return err is None


def compare_result(tag, out_dir, want, want_lse, mag, bf16_tol):
    got = np.load(os.path.join(out_dir, "out.npy"))
    got_lse = np.load(os.path.join(out_dir, "lse.npy"))
    if got.dtype != np.float32 or got.shape != want.shape or got_lse.dtype != np.float32 or got_lse.shape != want_lse.shape:
        return (f"{tag}: out.npy {got.dtype}{got.shape} / lse.npy {got_lse.dtype}{got_lse.shape}, "
                    f"expected float32{want.shape} / float32{want_lse.shape}")
    g = got.astype(np.float64)
    if bf16_tol:  # a device backend: BF16 output and BF16 softmax weights
        rms = np.sqrt((want ** 2).mean(axis=2, keepdims=True))
        tol = np.abs(want) / 256 + rms / 64  # tests/support/mla_test.h
        lse_tol = 1e-3 * np.maximum(1, np.abs(want_lse))
    else:  # the float64 reference rounded to float32
        tol = 2.0 ** -21 * np.abs(want) + 2.0 ** -36 * mag + 1e-37
        lse_tol = 1e-6 * np.maximum(1, np.abs(want_lse))
    empty = np.isinf(want_lse)
    bad_out = ~(np.abs(g - want) <= tol)
    with np.errstate(invalid="ignore"):  # -inf - -inf on the empty rows, handled below
        bad_lse = ~(np.abs(got_lse - want_lse) <= lse_tol) & ~empty
    bad_lse |= empty & ~(got_lse == -np.inf)
    if bad_out.any() or bad_lse.any():
        idx = np.argwhere(bad_out)[:1].tolist() or np.argwhere(bad_lse)[:1].tolist()
        return (f"{tag}: {int(bad_out.sum())} output and {int(bad_lse.sum())} LSE elements disagree "
                    f"with numpy (first at {idx})")
    return None


def good_cases(mla, tmp, rng):
    n = 0
    versions = [(1, 0), (2, 0), (3, 0)]
    for mask in MASKS:
        for q_fmt, kv_fmt in PAIRS:
            for rep in range(2):
                prob, files = make_problem(rng, mask, q_fmt, kv_fmt)
                tag = f"{mask} ({q_fmt}, {kv_fmt}) #{rep} H={prob['num_heads']} P={prob['page_size']} " \
                      f"q_lens={np.diff(files['q_offsets.npy']).tolist()} kv_lens={files['kv_lens.npy'].tolist()}"
                d, o = os.path.join(tmp, f"in{n}"), os.path.join(tmp, f"out{n}")
                save(d, prob, files, versions[n % 3:] + versions[:n % 3])
                r = run_mla(mla, d, o)
                n += 1
                if r.returncode != 0:
                    fail(f"{tag}: mla run exited {r.returncode}: {r.stderr.strip()}")
                    continue
                want, want_lse, mag = expected(prob, files)
                check_result(tag, o, want, want_lse, mag)
    # A padded [B, S, H, row] batch (equal q_len) in a contiguous cache (one page per request).
    prob, files = make_problem(rng, "causal", "bf16", "bf16", heads=128, page_size=64,
                               q_lens=[2, 2, 2], kv_lens=[64, 30, 2])
    d, o = os.path.join(tmp, "padded"), os.path.join(tmp, "padded_out")
    files["page_table.npy"] = files["page_table.npy"][:, :1].copy()
    save(d, prob, files)
    r = run_mla(mla, d, o)
    if r.returncode != 0:
        fail(f"padded batch: mla run exited {r.returncode}: {r.stderr.strip()}")
    else:
        want, want_lse, mag = expected(prob, files)
        check_result("padded batch", o, want, want_lse, mag)
    # Degenerate batches: B = 0 (a no-op with empty outputs) and no query at all.
    for name, q_lens, kv_lens in (("empty batch", [], []), ("no queries", [0, 0], [5, 0])):
        prob, files = make_problem(rng, "causal", "bf16", "fp8_rope640", heads=8, page_size=4,
                                   q_lens=q_lens, kv_lens=kv_lens)
        d, o = os.path.join(tmp, name.replace(" ", "_")), os.path.join(tmp, name.replace(" ", "_") + "_out")
        save(d, prob, files)
        r = run_mla(mla, d, o)
        if r.returncode != 0:
            fail(f"{name}: mla run exited {r.returncode}: {r.stderr.strip()}")
        else:
            want, want_lse, mag = expected(prob, files)
            check_result(name, o, want, want_lse, mag)
    print(f"good inputs: {n + 3} problems run and compared with numpy")
    return d, prob, files


def self_test(tmp, rng):
    """The comparison itself must catch a wrong result."""
    prob, files = make_problem(rng, "causal", "bf16", "fp8_rope640", heads=4, page_size=8, q_lens=[3], kv_lens=[20])
    want, want_lse, mag = expected(prob, files)
    o = os.path.join(tmp, "selftest")
    os.makedirs(o, exist_ok=True)
    wrong = want.astype(np.float32)
    wrong[1, 2, 3] = np.nextafter(np.nextafter(wrong[1, 2, 3], np.inf), np.inf) * (1 + 2 ** -18)
    np.save(os.path.join(o, "out.npy"), wrong)
    np.save(os.path.join(o, "lse.npy"), want_lse.astype(np.float32))
    if compare_result("self-test", o, want, want_lse, mag, False) is None:
        fail("self-test: a perturbed output passed the comparison")
    np.save(os.path.join(o, "out.npy"), want.astype(np.float32))
    if compare_result("self-test", o, want, want_lse, mag, False) is not None:
        fail("self-test: the unperturbed float32 rounding of the numpy result failed the comparison")


# ---------------------------------------------------------------- bad inputs

def bad_cases(mla, tmp, base_dir, base_prob, base_files, rng):
    def edit_json(**kw):
        def f(d):
            p = dict(base_prob)
            for k, v in kw.items():
                if v is None:
                    p.pop(k, None)
                else:
                    p[k] = v
            with open(os.path.join(d, "problem.json"), "w") as fh:
                json.dump(p, fh)
        return f

    def write_raw(name, text):
        def f(d):
            with open(os.path.join(d, name), "w") as fh:
                fh.write(text)
        return f

    def replace(name, arr):
        return lambda d: np.save(os.path.join(d, name), arr)

    def remove(name):
        return lambda d: os.remove(os.path.join(d, name))

    def patch_bytes(name, offset, data):
        def f(d):
            with open(os.path.join(d, name), "r+b") as fh:
                fh.seek(offset)
                fh.write(data)
        return f

    def truncate(name, drop):
        def f(d):
            path = os.path.join(d, name)
            size = os.path.getsize(path)
            with open(path, "r+b") as fh:
                fh.truncate(size - drop)
        return f

    qo, kvl, pt = base_files["q_offsets.npy"], base_files["kv_lens.npy"], base_files["page_table.npy"]
    q, pool = base_files["q.npy"], base_files["kv_pool.npy"]
    pt_bad = pt.copy()
    pt_bad[0, 0] = pool.shape[0]
    qo_bad = qo.copy()
    qo_bad[1] = qo[2] + 1
    kv_short = kvl.copy()
    kv_short[0] = 1  # q_len 2 > kv_len 1 under causal
    kv_long = kvl.copy()
    kv_long[1] = pt.shape[1] * base_prob["page_size"] + 1
    total_bad = qo.copy()
    total_bad[-1] -= 1
    pool48 = np.full((pool.shape[0], 48, 576), 0x3F80, dtype=np.uint16)
    q200 = np.full((q.shape[0], 200, 576), 0x3F80, dtype=np.uint16)

    cases = [
        # (name, mutation, substrings the message must contain)
        ("q.npy float32", replace("q.npy", q.astype(np.float32)), ["q.npy", "dtype = float32", "uint16", "bf16"]),
        ("kv_lens.npy int64", replace("kv_lens.npy", kvl.astype(np.int64)), ["kv_lens.npy", "descr = '<i8'", "'<i4'"]),
        ("kv_lens.npy big-endian", replace("kv_lens.npy", kvl.astype(">i4")), ["kv_lens.npy", "'>i4'", "big-endian"]),
        ("page_table.npy Fortran order", replace("page_table.npy", np.asfortranarray(np.tile(pt, (1, 2)))),
         ["page_table.npy", "fortran_order = True"]),
        ("q.npy truncated", truncate("q.npy", 2), ["q.npy", "truncated", "shape"]),
        ("q.npy bad magic", patch_bytes("q.npy", 1, b"NUMPX"), ["q.npy", "not a .npy file"]),
        ("q.npy version 4.0", patch_bytes("q.npy", 6, b"\x04"), ["q.npy", "format version = 4.0"]),
        ("kv_lens.npy missing", remove("kv_lens.npy"), ["kv_lens.npy", "cannot read"]),
        ("problem.json missing", remove("problem.json"), ["problem.json", "cannot read"]),
        ("q_offsets.npy wrong length", replace("q_offsets.npy", qo[:-1].copy()), ["q_offsets.npy", "shape", "B + 1"]),
        ("q.npy wrong H", replace("q.npy", q[:, :1].copy()), ["q.npy", "shape", "num_heads = 16"]),
        ("page_size 48", lambda d: (edit_json(page_size=48)(d), replace("kv_pool.npy", pool48)(d)),
         ["page_size = 48", "power of two", "[1, 512]"]),
        ("page_size vs kv_pool", edit_json(page_size=32), ["kv_pool.npy", "shape", "page_size = 32"]),
        ("num_heads 200", lambda d: (edit_json(num_heads=200)(d), replace("q.npy", q200)(d)),
         ["num_heads = 200", "[1, 128]"]),
        ("num_splits 65", edit_json(num_splits=65), ["num_splits = 65", "[0, 64]"]),
        ("num_heads string", edit_json(num_heads="16"), ["num_heads = \"16\"", "integer"]),
        ("num_heads fraction", edit_json(num_heads=16.5), ["num_heads = 16.5", "integer"]),
        ("softmax_scale 1e39", write_raw("problem.json", json.dumps(base_prob).replace(
            '"softmax_scale": ' + json.dumps(base_prob["softmax_scale"]), '"softmax_scale": 1e39')),
         ["softmax_scale = 1e39", "finite"]),
        ("unknown key", edit_json(heads=16), ["unknown key \"heads\"", "num_heads"]),
        ("missing key", edit_json(page_size=None), ["missing key \"page_size\""]),
        ("window with causal", edit_json(window=5), ["window = 5", "mask = \"causal\"", "sliding_window"]),
        ("sliding_window without window", edit_json(mask="sliding_window"), ["missing key \"window\"", "sliding_window"]),
        ("window 0", edit_json(mask="sliding_window", window=0), ["window = 0", ">= 1"]),
        ("bad mask", edit_json(mask="causual"), ["mask = \"causual\"", "causal"]),
        ("bad format", edit_json(kv_format="fp16"), ["kv_format = \"fp16\"", "bf16", "fp8_rope640"]),
        ("fp8 q_format, bf16 q.npy", edit_json(q_format="fp8_rope640"),
         ["q.npy", "dtype = uint16", "uint8", "fp8_rope640"]),
        ("batch_invariant string", edit_json(batch_invariant="yes"), ["batch_invariant = \"yes\"", "true or false"]),
        ("trailing comma", write_raw("problem.json", '{"num_heads": 16,}'), ["problem.json:1:", "expected a quoted key"]),
        ("not an object", write_raw("problem.json", "[1, 2]"), ["problem.json", "array", "expected an object"]),
        ("stray kv_scales.npy", replace("kv_scales.npy", np.ones(pool.shape[:2], np.float32)),
         ["kv_scales.npy is present", "kv_format = \"bf16\""]),
        ("page id out of range", replace("page_table.npy", pt_bad),
         ["page_table[0][0] = %d" % pool.shape[0], "[0, %d]" % (pool.shape[0] - 1)]),
        ("q_offsets decreasing", replace("q_offsets.npy", qo_bad), ["q_offsets[2]", "non-decreasing"]),
        ("q_len > kv_len causal", replace("kv_lens.npy", kv_short),
         ["q_len of request 0 = 2", "kv_lens[0] = 1", "causal"]),
        ("kv_len beyond the page table", replace("kv_lens.npy", kv_long),
         ["kv_lens[1] = %d" % kv_long[1], "max_pages * page_size"]),
        ("q_offsets[B] != total_q", replace("q_offsets.npy", total_bad), ["q_offsets[3]", "total_q = %d" % q.shape[0]]),
    ]
    # The (fp8, bf16) pair reaches validation once its files are consistent.
    fp8q = np.zeros((q.shape[0], q.shape[1], 640), np.uint8) + 0x38

    def fp8_q_bf16_kv(d):
        edit_json(q_format="fp8_rope640")(d)
        replace("q.npy", fp8q)(d)
        replace("q_scales.npy", np.ones(q.shape[0], np.float32))(d)
    cases.append(("(fp8, bf16) pair", fp8_q_bf16_kv, ["(q_format, kv_format) = (fp8_rope640, bf16)", "supported"]))

    for i, (name, mutate, needles) in enumerate(cases):
        d, o = os.path.join(tmp, f"bad{i}"), os.path.join(tmp, f"bad{i}_out")
        shutil.copytree(base_dir, d)
        mutate(d)
        r = run_mla(mla, d, o)
        msg = r.stderr.strip()
        if r.returncode == 0:
            fail(f"bad input '{name}': mla run succeeded")
            continue
        missing = [n for n in needles if n not in msg]
        if missing:
            fail(f"bad input '{name}': message {msg!r} lacks {missing}")
        if os.path.exists(os.path.join(o, "out.npy")) or os.path.exists(os.path.join(o, "lse.npy")):
            fail(f"bad input '{name}': an output file was written")
    # Usage errors exit 2.
    r = subprocess.run([mla, "run", "--inputs", base_dir, "--out", tmp + "/x", "--backend", "tpu"],
                       capture_output=True, text=True)
    if r.returncode != 2 or "--backend = 'tpu'" not in r.stderr:
        fail(f"unknown backend: exit {r.returncode}, {r.stderr.strip()!r}")
    print(f"bad inputs: {len(cases) + 1} cases rejected with the expected messages")


def device_backends(mla, tmp, base_dir, base_prob, base_files):
    """A device backend either matches numpy within the BF16 tolerance or says why it cannot run."""
    want, want_lse, mag = expected(base_prob, base_files)
    for backend in ("cuda", "vulkan"):
        o = os.path.join(tmp, "dev_" + backend)
        r = run_mla(mla, base_dir, o, backend)
        if r.returncode == 0:
            if check_result(f"{backend} backend", o, want, want_lse, mag, bf16_tol=True):
                print(f"{backend}: ran and matched numpy within the BF16 tolerance")
        elif f"{backend} backend" not in r.stderr:
            fail(f"{backend}: exit {r.returncode} without naming the backend: {r.stderr.strip()!r}")
        else:
            print(f"{backend}: not run here ({r.stderr.strip()})")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    mla = os.path.abspath(sys.argv[1])
    rng = np.random.default_rng(int(os.environ.get("MLA_CROSSCHECK_SEED", "20240611")))
    with tempfile.TemporaryDirectory(prefix="mla_crosscheck_") as tmp:
        self_test(tmp, rng)
        good_cases(mla, tmp, rng)
        # The base of the bad cases: B = 3, H = 16, bf16, causal, 16-token pages.
        prob, files = make_problem(rng, "causal", "bf16", "bf16", heads=16, page_size=16,
                                   q_lens=[2, 1, 3], kv_lens=[40, 5, 17])
        base = os.path.join(tmp, "base")
        save(base, prob, files)
        r = run_mla(mla, base, os.path.join(tmp, "base_out"))
        if r.returncode != 0:
            fail(f"base problem: mla run exited {r.returncode}: {r.stderr.strip()}")
        else:
            want, want_lse, mag = expected(prob, files)
            check_result("base problem", os.path.join(tmp, "base_out"), want, want_lse, mag)
        bad_cases(mla, tmp, base, prob, files, rng)
        device_backends(mla, tmp, base, prob, files)
    if FAILURES:
        print(f"{len(FAILURES)} failure(s)")
        return 1
    print("npy cross-check: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
