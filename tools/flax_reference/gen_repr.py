"""Generate conformance cases for `nnx_core::repr` from real Python/numpy/JAX/Flax.

Run:  /work/flaxenv/bin/python tools/flax_reference/gen_repr.py
Writes nnx-core/tests/data/repr/cases.json. Floats are stored as IEEE bit
patterns (ints) so nan/inf/-0.0 and exact values survive JSON.
"""
import json
import os
import struct

import jax

jax.config.update("jax_enable_x64", True)  # keep float64/int64 arrays as such

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax.typing import SizeBytes  # noqa: E402

rng = np.random.default_rng(20240607)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "nnx-core", "tests", "data", "repr", "cases.json")


def f64_bits(x):
    return struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def f32_bits(x):
    return int(np.float32(x).view(np.uint32))


def interesting_floats():
    vals = [0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1e-4, 1e-5, 9.999e-5, 0.0001234,
            1e15, 1e16, 9999999999999998.0, 1e16 - 2, 1.5e16, 1e22, 1e23, 1e100, 1e-100, 5e-324,
            1.7976931348623157e308, 2.2250738585072014e-308, 123456789.5, 0.5, 100.0, 1234.5678,
            float("inf"), float("-inf"), float("nan"), 3.14159, 2.0 ** 53, 2.0 ** 60, 1e-7, 12345678901234567.0]
    vals += list(rng.standard_normal(60))
    vals += list(rng.standard_normal(60) * 10.0 ** rng.integers(-30, 30, 60))
    vals += [struct.unpack("<d", struct.pack("<Q", int(b)))[0] for b in rng.integers(0, 2 ** 63, 40, dtype=np.uint64)]
    return vals


def float_cases():
    cases = []
    for v in interesting_floats():
        cases.append({"bits": f64_bits(v), "expected": repr(float(v))})
    return cases


def f32_cases():
    vals = [np.float32(v) for v in interesting_floats()]
    vals += [np.float32(v) for v in [0.1, 0.7567299, -0.68570054, 16777217.0, 3.4e38, 1e-45, 1e-4, 1.0001e-4, 9.9999e15]]
    vals += list(rng.standard_normal(60).astype(np.float32))
    vals += [np.uint32(b).view(np.float32) for b in rng.integers(0, 2 ** 32, 40, dtype=np.uint64)]
    cases = []
    for v in vals:
        v = np.float32(v)
        cases.append({"bits": f32_bits(v), "expected": str(v)})
    return cases


def tuple_cases():
    shapes = [(), (3,), (2, 3), (1, 2, 3), (0,), (10, 0, 4), (1000000, 7)]
    return [{"items": list(s), "expected": repr(tuple(s))} for s in shapes]


def size_cases():
    pairs = [(3, 12), (1, 4), (0, 0), (250, 1000), (251, 1004), (1024, 4096), (1000, 1001), (312, 1250),
             (1000000, 4000000), (262144, 1048576), (10 ** 9, 4 * 10 ** 9), (5, 999), (1, 1000001),
             (123456789, 987654321), (2 ** 40, 2 ** 42)]
    pairs += [(int(c), int(c) * int(s)) for c, s in zip(rng.integers(1, 10 ** 9, 40), rng.choice([1, 2, 4, 8], 40))]
    return [{"count": c, "nbytes": b, "expected": repr(SizeBytes(c, b))} for c, b in pairs]


def encode(v):
    """Tagged JSON encoding of a Python literal."""
    if v is None:
        return {"t": "none"}
    if isinstance(v, bool):
        return {"t": "bool", "v": v}
    if isinstance(v, int):
        return {"t": "int", "v": v}
    if isinstance(v, float):
        return {"t": "float", "v": f64_bits(v)}
    if isinstance(v, str):
        return {"t": "str", "v": v}
    if isinstance(v, tuple):
        return {"t": "tuple", "v": [encode(x) for x in v]}
    if isinstance(v, list):
        return {"t": "list", "v": [encode(x) for x in v]}
    raise TypeError(v)


def meta_cases():
    vals = [None, True, False, 0, -7, 2 ** 62, 1.0, 0.1, 1e-5, float("nan"), "", "abc", "it's", 'say "hi"',
            "both ' and \"", "back\\slash", "tab\tnew\nline\r", "\x00\x1f\x7f", "caf\u00e9", "\u00a0nbsp",
            "\u00ad", "日本語", "emoji \U0001F600", "\u2028", "\ufeff", (), (1,), (1, "a"), (1, 2.5, None),
            [], [1, 2], [(1, 2), [3, [4]]], ("nested", ("t",), [True, None]), "sharding", ("data", None)]
    return [{"value": encode(v), "expected": repr(v)} for v in vals]


def array_entry(a):
    a = np.asarray(a)
    dt = a.dtype.name
    flat = a.reshape(-1)
    if dt == "float32":
        data = [int(x) for x in flat.view(np.uint32)]
    elif dt == "float64":
        data = [int(x) for x in flat.view(np.uint64)]
    elif dt == "bool":
        data = [bool(x) for x in flat]
    else:
        data = [int(x) for x in flat]
    return {"dtype": dt, "shape": list(a.shape), "data": data, "expected": repr(jnp.asarray(a))}


def array_cases():
    arrs = []
    f32 = np.float32
    shapes = [(), (1,), (3,), (5,), (2, 3), (3, 2), (2, 3, 4), (4, 5, 6), (1, 1, 1), (30,), (100,), (17, 9),
              (1001,), (2, 1000), (11, 11, 11), (3, 400), (2, 2, 2, 2), (1, 80), (7, 7)]
    for shape in shapes:
        arrs.append(rng.standard_normal(shape).astype(f32))
        arrs.append(rng.standard_normal(shape))
    for shape in [(3,), (2, 3), (40,), (5, 5)]:
        # mixed magnitudes trigger scientific notation
        arrs.append((rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 8, shape)).astype(f32))
        arrs.append(rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 8, shape))
        arrs.append(rng.integers(-5, 5, shape).astype(f32))
        arrs.append(rng.integers(-100000, 100000, shape).astype(np.float64))
    hand = [
        np.zeros(3, f32), np.ones((2, 2), f32), np.array(1.0, f32), np.array(-0.0, f32), np.array(np.nan, f32),
        np.array([0.0, -0.0], f32), np.array([np.nan, -np.inf], f32), np.array([np.nan, np.inf, 1.5], f32),
        np.array([1e-5, 1.5], f32), np.array([1e-4, 1.0], f32), np.array([1e6, 1.0], f32), np.array([999999.0], f32),
        np.array([1e6], f32), np.array([1e8, 1.0]), np.array([99999999.0]), np.array([1e-100, 1.0]),
        np.array([1e100, -1e-100]), np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2, 0.3], f32),
        np.array([1.0, 1.5]), np.array([1 / 3, 2 / 3]), np.array([1 / 3, 2 / 3], f32), np.array([123456.789], f32),
        np.array([0.123456789012], np.float64), np.array([1.000000005]), np.array([9.9999999999]),
        np.array([999.99999999999, 1.0]), np.array([np.inf, -np.inf, np.nan]), np.array([np.inf]),
        np.array([1e-3, 1.0]), np.array([1e-3, 1.01]), np.array([5e-5, np.nan], f32),
        np.zeros((0,), f32), np.zeros((0, 3), f32), np.zeros((2, 0, 2), np.int32),
        np.arange(30, dtype=f32), np.arange(22, dtype=f32), np.arange(2000).reshape(2, 1000).astype(np.int32),
        np.arange(1001, dtype=f32) / 7, np.arange(24).reshape(2, 3, 4).astype(np.int64),
        np.array([1, 2], np.int32), np.array(7, np.int32), np.array([-1, 10, -100], np.int64),
        np.array([0, 255, 17], np.uint8), np.array([0, 4294967295], np.uint32),
        np.array([2 ** 63 - 1, -2 ** 63], np.int64), np.array([True, False]), np.array(True), np.array(False),
        np.array([[True, True], [False, True]]), np.ones(1200, bool), np.arange(3000, dtype=np.int64),
        np.full((25,), 1e-7, f32), np.array([1e-45, 1e-38, 1.0], f32), np.array([np.nan, np.nan], f32),
        np.array([-0.0, 1e-5, 3.0], f32), np.array([16777217.0, 1.0], f32), np.array([1245479.25], f32),
        np.array([0.30000001192092896, 1.00000012], f32), np.array([[1e10]], f32), np.array([2.0 ** 54 + 2]),
        np.arange(4 * 5 * 6 * 9, dtype=np.int32).reshape(4, 5, 6, 9), np.arange(100 * 12, dtype=f32).reshape(100, 12) * 1.5,
        np.array(np.inf, f32), np.array(-1e-7), np.array([1e5, 1.0], f32), np.array([123456.7, 0.01], f32), np.linspace(-1, 1, 50).astype(f32), np.linspace(0, 1e7, 12),
    ]
    arrs += hand
    for _ in range(30):
        nd = int(rng.integers(1, 4))
        shape = tuple(int(x) for x in rng.integers(1, 9, nd))
        kind = int(rng.integers(0, 5))
        if kind == 0:
            arrs.append(rng.integers(-(10 ** int(rng.integers(1, 9))), 10 ** 6, shape).astype(np.int32))
        elif kind == 1:
            arrs.append(rng.random(shape) < 0.5)
        elif kind == 2:
            arrs.append(rng.integers(0, 256, shape).astype(np.uint8))
        elif kind == 3:
            arrs.append((rng.standard_normal(shape) * 10.0 ** int(rng.integers(-6, 9))).astype(f32))
        else:
            arrs.append(rng.standard_normal(shape) * 10.0 ** int(rng.integers(-6, 9)))
    return [array_entry(a) for a in arrs]


def main():
    out = {
        "python_float_repr": float_cases(),
        "python_float32_repr": f32_cases(),
        "fmt_tuple_usize": tuple_cases(),
        "fmt_size_comment": size_cases(),
        "meta_value": meta_cases(),
        "fmt_jax_array": array_cases(),
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print({k: len(v) for k, v in out.items()})


if __name__ == "__main__":
    main()
