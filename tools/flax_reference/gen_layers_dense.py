"""Writes reference data for nnx-layers' dense/conv/embed layer conformance tests.

Builds Linear, LinearGeneral, Einsum, Embed, Conv, ConvTranspose, PReLU and
Sequential in real Flax NNX from `nnx.Rngs(seed)`, and records every parameter
(path, Variable type, shape, values) and forward outputs on small random inputs,
as JSON under nnx-layers/tests/data/layers/dense.json. Run with the Flax
environment's python:

    python tools/flax_reference/gen_layers_dense.py
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from reference_json import arr

jax.config.update("jax_default_matmul_precision", "highest")
RNG = np.random.default_rng(20240611)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "nnx-layers", "tests", "data", "layers")


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def params_of(module):
    """Every Variable by '/'-joined path, with its type name, shape and values."""
    out = {}
    for path, var in nnx.to_flat_state(nnx.state(module)):
        key = "/".join(str(p) for p in path)
        if isinstance(var, nnx.Variable):
            out[key] = {"type": type(var).__name__, **arr(var.get_value())}
        else:
            # A plain array attribute (Conv's `mask`) is data in Flax's state too.
            out[key] = {"type": "Array", **arr(var)}
    return out


def record(layer, seed, config, module, inputs, call=None, extra=None):
    """Parameters as initialized; then, if the layer has a bias, a random one
    (Flax's default bias is zeros, which would not test the bias add), stored
    under "bias"; then forward outputs."""
    call = call or (lambda m, x: m(x))
    case = {
        "layer": layer,
        "seed": seed,
        "config": config,
        "params": params_of(module),
        "shape_repr": repr(jax.tree.map(jnp.shape, nnx.state(module))),
    }
    if getattr(module, "bias", None) is not None:
        module.bias[...] = jnp.asarray(rand(*module.bias[...].shape))
        case["bias"] = arr(module.bias[...])
    case["forward"] = [{"input": arr(x), "output": arr(call(module, x))} for x in inputs]
    if extra:
        case.update(extra(module))
    return case


def linear_cases():
    out = []
    for seed, (fin, fout), bias in [(0, (2, 3), True), (1, (5, 4), True), (2, (4, 6), False), (3, (1, 1), True)]:
        m = nnx.Linear(fin, fout, use_bias=bias, rngs=nnx.Rngs(seed))
        xs = [rand(fin), rand(3, fin), rand(2, 3, fin)]
        out.append(record("Linear", seed, {"in_features": fin, "out_features": fout, "use_bias": bias}, m, xs))
    # Non-default initializers.
    m = nnx.Linear(3, 2, kernel_init=nnx.initializers.xavier_uniform(),
                   bias_init=nnx.initializers.ones, rngs=nnx.Rngs(7))
    out.append(record("Linear", 7, {"in_features": 3, "out_features": 2, "use_bias": True,
                                    "kernel_init": "glorot_uniform", "bias_init": "ones"}, m, [rand(2, 3)]))
    return out


def linear_general_cases():
    out = []
    configs = [
        dict(in_features=2, out_features=(4, 5), axis=-1, batch_axis={}, x=[(3, 2), (2,)]),
        dict(in_features=(2, 3), out_features=(4, 5), axis=(1, -1), batch_axis={}, x=[(1, 2, 3), (2, 2, 3)]),
        dict(in_features=(3, 2), out_features=4, axis=(-2, -1), batch_axis={}, x=[(2, 3, 2), (5, 3, 2)]),
        dict(in_features=(2, 3), out_features=(2, 2), axis=(0, 2), batch_axis={}, x=[(2, 4, 3)]),
        dict(in_features=3, out_features=2, axis=-1, batch_axis={0: 4}, x=[(4, 3), (4, 5, 3)]),
        dict(in_features=(3,), out_features=(2, 3), axis=(-1,), batch_axis={0: 2, 1: 3}, x=[(2, 3, 3), (2, 3, 4, 3)]),
    ]
    for seed, c in enumerate(configs):
        shapes = c.pop("x")
        m = nnx.LinearGeneral(c["in_features"], c["out_features"], axis=c["axis"],
                              batch_axis=c["batch_axis"], rngs=nnx.Rngs(seed))
        cfg = {
            "in_features": list(np.atleast_1d(c["in_features"]).tolist()),
            "out_features": list(np.atleast_1d(c["out_features"]).tolist()),
            "axis": list(np.atleast_1d(c["axis"]).tolist()),
            "batch_axis": [[int(k), int(v)] for k, v in c["batch_axis"].items()],
            "use_bias": True,
        }
        out.append(record("LinearGeneral", seed, cfg, m, [rand(*s) for s in shapes]))
    m = nnx.LinearGeneral((2, 3), 4, axis=(-2, -1), use_bias=False, rngs=nnx.Rngs(9))
    out.append(record("LinearGeneral", 9, {"in_features": [2, 3], "out_features": [4], "axis": [-2, -1],
                                           "batch_axis": [], "use_bias": False}, m, [rand(2, 2, 3)]))
    return out


def einsum_cases():
    out = []
    configs = [
        ("nta,hab->nthb", (3, 2, 4), (3, 4), [(2, 5, 2)]),
        ("ab,bc->ac", (3, 4), (4,), [(2, 3)]),
        ("btd,ndh->btnh", (2, 3, 4), (2, 4), [(2, 3, 3)]),
        ("btnh,nhd->btd", (2, 3, 4), (4,), [(1, 2, 2, 3)]),
        ("...d,df->...f", (3, 5), (5,), [(3,), (2, 3), (2, 4, 3)]),
        ("bij,jk->bki", (3, 2), None, [(2, 4, 3)]),
    ]
    for seed, (eq, ks, bs, shapes) in enumerate(configs):
        m = nnx.Einsum(eq, ks, bs, rngs=nnx.Rngs(seed))
        cfg = {"einsum_str": eq, "kernel_shape": list(ks), "bias_shape": None if bs is None else list(bs)}
        out.append(record("Einsum", seed, cfg, m, [rand(*s) for s in shapes]))
    return out


def embed_cases():
    out = []
    for seed, (n, f) in enumerate([(5, 3), (10, 4), (1, 2)]):
        m = nnx.Embed(n, f, rngs=nnx.Rngs(seed))
        # Flax broadcasts a (1, features) table when num_embeddings == 1, which
        # fails for 0-d indices; only use 0-d indices otherwise.
        sizes = [(4,), (2, 3)] if n == 1 else [(), (4,), (2, 3)]
        idx = [np.asarray(RNG.integers(0, n, size=s), dtype=np.int32) for s in sizes]
        q = rand(2, f)

        def attend(mod, q=q):
            return {"attend": [{"input": arr(q), "output": arr(mod.attend(q))}]}

        out.append(record("Embed", seed, {"num_embeddings": n, "features": f}, m, idx, extra=attend))
    return out


def conv_cases():
    out = []
    configs = [
        dict(in_features=2, out_features=3, kernel_size=(3,), x=[(2, 5, 2), (5, 2)]),
        dict(in_features=3, out_features=4, kernel_size=(3, 3), strides=2, padding="VALID", x=[(2, 7, 6, 3)]),
        dict(in_features=2, out_features=2, kernel_size=(2, 3), kernel_dilation=(2, 1), x=[(1, 6, 5, 2)]),
        dict(in_features=4, out_features=6, kernel_size=(3, 3), feature_group_count=2, x=[(2, 5, 5, 4)]),
        dict(in_features=2, out_features=3, kernel_size=(3, 2), padding="CIRCULAR", x=[(1, 4, 5, 2)]),
        dict(in_features=2, out_features=3, kernel_size=(3, 3), padding=((1, 2), (0, 1)), x=[(1, 5, 4, 2)]),
        dict(in_features=1, out_features=2, kernel_size=(3,), input_dilation=2, padding=((2, 2),), x=[(2, 4, 1)]),
        dict(in_features=2, out_features=2, kernel_size=(2, 2, 2), use_bias=False, x=[(1, 3, 4, 3, 2)]),
        dict(in_features=3, out_features=2, kernel_size=(3, 3), x=[(2, 2, 4, 4, 3)]),
        dict(in_features=1, out_features=2, kernel_size=(4,), padding="CAUSAL", kernel_dilation=2, x=[(1, 9, 1)]),
    ]
    for seed, c in enumerate(configs):
        shapes = c.pop("x")
        m = nnx.Conv(rngs=nnx.Rngs(seed), **c)
        out.append(record("Conv", seed, conv_cfg(c), m, [rand(*s) for s in shapes]))
    # A masked conv (a causal 2-D mask as in PixelCNN).
    mask = np.ones((3, 3, 2, 2), np.float32)
    mask[2, :, :, :] = 0
    mask[1, 2, :, :] = 0
    m = nnx.Conv(2, 2, (3, 3), mask=jnp.asarray(mask), rngs=nnx.Rngs(11))
    cfg = conv_cfg(dict(in_features=2, out_features=2, kernel_size=(3, 3)))
    cfg["mask"] = arr(mask)
    out.append(record("Conv", 11, cfg, m, [rand(1, 4, 4, 2)]))
    return out


def conv_cfg(c):
    cfg = dict(c)
    cfg["kernel_size"] = list(cfg["kernel_size"])
    for k in ("strides", "input_dilation", "kernel_dilation"):
        if k in cfg:
            v = cfg[k]
            cfg[k] = [v] * len(cfg["kernel_size"]) if isinstance(v, int) else list(v)
    if "padding" in cfg and not isinstance(cfg["padding"], str):
        cfg["padding"] = [list(p) for p in cfg["padding"]]
    return cfg


def conv_transpose_cases():
    out = []
    configs = [
        dict(in_features=2, out_features=3, kernel_size=(3,), strides=2, x=[(2, 4, 2), (4, 2)]),
        dict(in_features=3, out_features=2, kernel_size=(3, 3), strides=2, padding="VALID", x=[(1, 3, 4, 3)]),
        dict(in_features=2, out_features=2, kernel_size=(4, 3), strides=(2, 1), padding="CIRCULAR", x=[(1, 3, 4, 2)]),
        dict(in_features=2, out_features=3, kernel_size=(3, 3), strides=2, transpose_kernel=True, x=[(1, 3, 3, 2)]),
        dict(in_features=2, out_features=2, kernel_size=(3,), kernel_dilation=2, padding=((1, 2),), x=[(2, 5, 2)]),
        dict(in_features=1, out_features=2, kernel_size=(2, 2), strides=2, use_bias=False, x=[(2, 2, 2, 2, 1)]),
        dict(in_features=2, out_features=2, kernel_size=(3,), strides=2, padding="CIRCULAR",
             transpose_kernel=True, x=[(1, 4, 2)]),
    ]
    for seed, c in enumerate(configs):
        shapes = c.pop("x")
        m = nnx.ConvTranspose(rngs=nnx.Rngs(seed), **c)
        out.append(record("ConvTranspose", seed, conv_cfg(c), m, [rand(*s) for s in shapes]))
    mask = (RNG.random((3, 2, 2)) > 0.4).astype(np.float32)
    m = nnx.ConvTranspose(2, 2, (3,), mask=jnp.asarray(mask), rngs=nnx.Rngs(12))
    cfg = conv_cfg(dict(in_features=2, out_features=2, kernel_size=(3,)))
    cfg["mask"] = arr(mask)
    out.append(record("ConvTranspose", 12, cfg, m, [rand(1, 4, 2)]))
    return out


def prelu_cases():
    out = []
    for slope in (None, 0.25):
        m = nnx.PReLU() if slope is None else nnx.PReLU(negative_slope_init=slope)
        cfg = {} if slope is None else {"negative_slope_init": slope}
        out.append(record("PReLU", 0, cfg, m, [rand(2, 5), rand(3)]))
    return out


def sequential_cases():
    rngs = nnx.Rngs(0)
    m = nnx.Sequential(nnx.Linear(3, 4, rngs=rngs), nnx.Linear(4, 2, rngs=rngs))
    return [record("Sequential", 0, {"layers": [[3, 4], [4, 2]]}, m, [rand(2, 3)])]


def main():
    cases = (linear_cases() + linear_general_cases() + einsum_cases() + embed_cases() + conv_cases()
             + conv_transpose_cases() + prelu_cases() + sequential_cases())
    # The key example of the issue, verbatim.
    key = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    data = {
        "flax_version": nnx.__name__ and __import__("flax").__version__,
        "key_example": {
            "kernel": arr(key.kernel[...]),
            "bias": arr(key.bias[...]),
            "shape_repr": repr(jax.tree.map(jnp.shape, nnx.state(key))),
        },
        "cases": cases,
    }
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "dense.json")
    with open(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    print(f"wrote {len(cases)} cases to {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
