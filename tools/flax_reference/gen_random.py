"""Generates nnx-core/tests/data/random/*.json from real JAX (the oracle).

Run with the Flax venv:  python tools/flax_reference/gen_random.py
Floats are stored as hex bit patterns (f32: 8 digits, f64: 16) so that the
Rust conformance tests can compare exactly or in ulps.
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "nnx-core", "tests", "data", "random")
SEEDS = [0, 1, 42, 2**32 + 5, -1, -12345, 2**40, 2**31, 2**63 - 1]
SHAPES = [(), (3,), (7,), (2, 3), (4, 5, 6)]


def kd(k):
    return [int(v) for v in np.asarray(jax.random.key_data(k)).reshape(-1)]


def hexf(a):
    a = np.asarray(a)
    if a.dtype == np.float32:
        return [f"{v:08x}" for v in a.reshape(-1).view(np.uint32)]
    return [f"{v:016x}" for v in a.reshape(-1).view(np.uint64)]


def ints(a):
    return [int(v) for v in np.asarray(a).reshape(-1)]


def test_keys():
    base = jax.random.key(0)
    keys = [base, jax.random.fold_in(base, 0), jax.random.key(42),
            jax.random.split(jax.random.key(2**32 + 5), 3)[2]]
    return keys


def float_section(dtype):
    out = {"uniform": [], "normal": [], "truncated_normal": [], "bernoulli": [], "gumbel": []}
    for k in test_keys():
        for shape in SHAPES:
            for lo, hi in [(0.0, 1.0), (-1.0, 2.5)]:
                v = jax.random.uniform(k, shape, dtype, lo, hi)
                out["uniform"].append({"key": kd(k), "shape": list(shape), "minval": lo, "maxval": hi, "out": hexf(v)})
            v = jax.random.normal(k, shape, dtype)
            out["normal"].append({"key": kd(k), "shape": list(shape), "out": hexf(v)})
            for lo, hi in [(-2.0, 2.0), (-1.0, 0.5), (0.0, 3.0)]:
                v = jax.random.truncated_normal(k, lo, hi, shape, dtype)
                out["truncated_normal"].append({"key": kd(k), "shape": list(shape), "lower": lo, "upper": hi, "out": hexf(v)})
            for p in [0.0, 0.3, 0.5, 0.9, 1.0]:
                v = jax.random.bernoulli(k, jnp.asarray(p, dtype), shape)
                out["bernoulli"].append({"key": kd(k), "shape": list(shape), "p": p, "out": ints(v)})
            v = jax.random.gumbel(k, shape, dtype)
            out["gumbel"].append({"key": kd(k), "shape": list(shape), "out": hexf(v)})
    big = jax.random.normal(jax.random.key(7), (4096,), dtype)
    out["normal"].append({"key": kd(jax.random.key(7)), "shape": [4096], "out": hexf(big)})
    return out


def x32():
    d = {"jax_version": jax.__version__, "partitionable": bool(jax.config.jax_threefry_partitionable)}
    d["seeds"] = [{"seed": s, "key": kd(jax.random.key(s))} for s in SEEDS]
    d["fold_in"], d["split"], d["chains"] = [], [], []
    for s in [0, 1, 42]:
        k = jax.random.key(s)
        for data in [0, 1, 7, 2**31, 2**32 - 1]:
            d["fold_in"].append({"key": kd(k), "data": data, "out": kd(jax.random.fold_in(k, data))})
        for n in [0, 1, 2, 3, 5]:
            d["split"].append({"key": kd(k), "n": n, "out": [kd(x) for x in jax.random.split(k, n)]})
        # A chain: split, take the second, fold in 3, split again.
        c = jax.random.split(k)[1]
        c = jax.random.fold_in(c, 3)
        c = jax.random.split(c, 4)[3]
        d["chains"].append({"seed": s, "out": kd(c)})
    d["bits"] = []
    for k in test_keys():
        for shape in SHAPES:
            for width, dt in [(8, jnp.uint8), (16, jnp.uint16), (32, jnp.uint32)]:
                d["bits"].append({"key": kd(k), "width": width, "shape": list(shape),
                                  "out": ints(jax.random.bits(k, shape, dt))})
    d["f32"] = float_section(jnp.float32)
    d["randint"], d["permutation"], d["categorical"] = [], [], []
    for k in test_keys():
        for shape in SHAPES:
            for lo, hi in [(0, 10), (-5, 3), (-2**31, 2**31 - 1), (0, 2**16)]:
                d["randint"].append({"key": kd(k), "shape": list(shape), "dtype": "int32", "minval": lo, "maxval": hi,
                                     "out": ints(jax.random.randint(k, shape, lo, hi, jnp.int32))})
        for n in [0, 1, 2, 5, 10, 100, 2000]:
            d["permutation"].append({"key": kd(k), "n": n, "out": ints(jax.random.permutation(k, n))})
        logits = jax.random.normal(jax.random.key(3), (4, 6), jnp.float32)
        for axis in [-1, 0]:
            d["categorical"].append({"key": kd(k), "logits_shape": [4, 6], "logits": hexf(logits), "axis": axis,
                                     "out": ints(jax.random.categorical(k, logits, axis))})
    return d


def x64():
    jax.config.update("jax_enable_x64", True)
    d = {"seeds": [{"seed": s, "key": kd(jax.random.key(s))} for s in SEEDS], "bits": []}
    for k in test_keys():
        for shape in SHAPES:
            d["bits"].append({"key": kd(k), "width": 64, "shape": list(shape),
                              "out": [str(v) for v in ints(jax.random.bits(k, shape, jnp.uint64))]})
    d["f64"] = float_section(jnp.float64)
    d["randint"] = []
    for k in test_keys():
        for shape in SHAPES:
            for lo, hi in [(0, 10), (-5, 3), (-2**62, 2**62), (0, 2**40)]:
                d["randint"].append({"key": kd(k), "shape": list(shape), "dtype": "int64", "minval": lo, "maxval": hi,
                                     "out": ints(jax.random.randint(k, shape, lo, hi, jnp.int64))})
    return d


def inits(dtype):
    I = jax.nn.initializers
    cases = []
    specs = [
        ("zeros", {}, I.zeros),
        ("ones", {}, I.ones),
        ("constant", {"value": 0.25}, I.constant(0.25)),
        ("normal", {"stddev": 0.5}, I.normal(0.5)),
        ("uniform", {"scale": 2.0}, I.uniform(2.0)),
        ("truncated_normal", {"stddev": 0.3, "lower": -1.5, "upper": 2.0}, I.truncated_normal(0.3, lower=-1.5, upper=2.0)),
        ("lecun_normal", {}, I.lecun_normal()),
        ("lecun_uniform", {}, I.lecun_uniform()),
        ("glorot_normal", {}, I.glorot_normal()),
        ("glorot_uniform", {}, I.glorot_uniform()),
        ("he_normal", {}, I.he_normal()),
        ("he_uniform", {}, I.he_uniform()),
        ("orthogonal", {"scale": 1.0, "column_axis": -1}, I.orthogonal()),
        ("orthogonal", {"scale": 2.0, "column_axis": 0}, I.orthogonal(2.0, column_axis=0)),
    ]
    vs = []
    for mode in ["fan_in", "fan_out", "fan_avg"]:
        for dist in ["truncated_normal", "normal", "uniform"]:
            vs.append((1.5, mode, dist, [-2], [-1], []))
    vs.append((2.0, "fan_in", "normal", [0], [1], [2]))
    vs.append((1.0, "fan_avg", "uniform", [-3, -2], [-1], []))
    vs.append((0.5, "fan_out", "truncated_normal", [1], [-1], [0]))
    for scale, mode, dist, ia, oa, ba in vs:
        specs.append(("variance_scaling", {"scale": scale, "mode": mode, "distribution": dist, "in_axis": ia,
                                           "out_axis": oa, "batch_axis": ba},
                      I.variance_scaling(scale, mode, dist, in_axis=tuple(ia), out_axis=tuple(oa), batch_axis=tuple(ba))))
    shapes = [(2, 3), (5, 4), (3, 3, 4), (2, 3, 4, 5), (7, 2)]
    for k in [jax.random.fold_in(jax.random.key(0), 0), jax.random.key(123)]:
        for name, args, fn in specs:
            for shape in shapes:
                try:
                    v = fn(k, shape, dtype)
                except Exception:
                    continue
                cases.append({"name": name, "args": args, "key": kd(k), "shape": list(shape), "out": hexf(v)})
    do = I.delta_orthogonal(1.5)
    for shape in [(3, 2, 4), (3, 3, 2, 2), (1, 3, 3, 3, 5)]:
        k = jax.random.key(5)
        cases.append({"name": "delta_orthogonal", "args": {"scale": 1.5, "column_axis": -1}, "key": kd(k),
                      "shape": list(shape), "out": hexf(do(k, shape, dtype))})
    return cases


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    d32 = x32()
    i32 = inits(jnp.float32)
    with open(os.path.join(OUT, "random_x32.json"), "w") as f:
        json.dump(d32, f, separators=(",", ":"))
    d64 = x64()
    i64 = inits(jnp.float64)
    with open(os.path.join(OUT, "random_x64.json"), "w") as f:
        json.dump(d64, f, separators=(",", ":"))
    with open(os.path.join(OUT, "init.json"), "w") as f:
        json.dump({"f32": i32, "f64": i64}, f, separators=(",", ":"))
