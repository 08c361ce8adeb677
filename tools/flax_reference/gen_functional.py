"""Writes reference data for nnx-layers' functional conformance tests.

Runs the real JAX / Flax functions on small random inputs (fixed seed) and
stores inputs, parameters and outputs as JSON under
nnx-layers/tests/data/functional/. Run with the Flax environment's python:

    python tools/flax_reference/gen_functional.py
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from reference_json import arr
from flax.nnx.nn import attention as attn
from flax.nnx.nn import normalization as nrm

jax.config.update("jax_default_matmul_precision", "highest")
RNG = np.random.default_rng(20240607)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "nnx-layers", "tests", "data", "functional")


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def case(fn, inputs, output, **params):
    return {"fn": fn, "params": params, "inputs": {k: arr(v) for k, v in inputs.items()}, "output": arr(output)}


def activations():
    x = rand(2, 3, 5, scale=3.0)
    x[0, 0, :] = [-30.0, -8.0, 0.0, 8.0, 30.0]
    out = []
    simple = {
        "relu": jax.nn.relu, "relu6": jax.nn.relu6, "sigmoid": jax.nn.sigmoid,
        "silu": jax.nn.silu, "swish": jax.nn.swish, "log_sigmoid": jax.nn.log_sigmoid,
        "tanh": jnp.tanh, "softplus": jax.nn.softplus, "soft_sign": jax.nn.soft_sign,
        "selu": jax.nn.selu, "hard_sigmoid": jax.nn.hard_sigmoid, "hard_silu": jax.nn.hard_silu,
        "hard_swish": jax.nn.hard_swish, "hard_tanh": jax.nn.hard_tanh,
    }
    for name, f in simple.items():
        out.append(case(name, {"x": x}, f(x)))
    for approx in (True, False):
        out.append(case("gelu", {"x": x}, jax.nn.gelu(x, approximate=approx), approximate=approx))
    out.append(case("gelu_default", {"x": x}, nnx.gelu(x)))
    for alpha in (1.0, 0.5):
        out.append(case("elu", {"x": x}, jax.nn.elu(x, alpha), alpha=alpha))
        out.append(case("celu", {"x": x}, jax.nn.celu(x, alpha), alpha=alpha))
    out.append(case("leaky_relu", {"x": x}, jax.nn.leaky_relu(x, 0.2), negative_slope=0.2))
    for axis in (-1, 0, 1):
        out.append(case("softmax", {"x": x}, jax.nn.softmax(x, axis=axis), axis=axis))
        out.append(case("log_softmax", {"x": x}, jax.nn.log_softmax(x, axis=axis), axis=axis))
    y = rand(2, 4, 6)
    for axis in (-1, 1):
        out.append(case("glu", {"x": y}, jax.nn.glu(y, axis=axis), axis=axis))
    out.append(case("standardize", {"x": y}, jax.nn.standardize(y, axis=-1, epsilon=1e-5), axes=[-1], epsilon=1e-5))
    out.append(case("standardize", {"x": y}, jax.nn.standardize(y, axis=(0, 2), epsilon=1e-3), axes=[0, 2], epsilon=1e-3))
    idx = np.array([[0, 3, -1], [2, 7, 1]], dtype=np.int64)
    for axis in (-1, 0):
        out.append(case("one_hot", {"x": idx}, jax.nn.one_hot(idx, 4, axis=axis), num_classes=4, axis=axis))
    return out


def conv_cases():
    out = []

    def conv(x, k, **kw):
        layer = nnx.Conv(k.shape[-2] * kw.get("feature_group_count", 1), k.shape[-1], k.shape[:-2],
                         use_bias=False, rngs=nnx.Rngs(0), **kw)
        layer.kernel[...] = jnp.asarray(k)
        return layer(jnp.asarray(x))

    specs = [
        ((2, 7, 3), (3, 3, 4), dict(padding="SAME")),
        ((2, 7, 3), (3, 3, 4), dict(padding="VALID", strides=2)),
        ((1, 8, 3), (3, 3, 2), dict(padding="CAUSAL", kernel_dilation=2)),
        ((2, 6, 5, 4), (3, 2, 2, 6), dict(padding="SAME", strides=(2, 1), feature_group_count=2)),
        ((2, 6, 5, 4), (3, 3, 4, 3), dict(padding=((1, 2), (0, 1)), kernel_dilation=(1, 2))),
        ((1, 5, 5, 2), (3, 3, 2, 3), dict(padding=2, input_dilation=2)),
        ((1, 5, 5, 2), (3, 3, 2, 3), dict(padding=((2, 1), (1, 1)), input_dilation=(2, 3), strides=(2, 1))),
        ((2, 5, 6, 3), (3, 3, 3, 2), dict(padding="CIRCULAR")),
        ((2, 5, 6, 3), (3, 4, 3, 2), dict(padding="REFLECT")),
        ((2, 4, 4, 3, 2), (2, 3, 2, 2, 3), dict(padding="SAME", strides=(1, 2, 1))),
        ((3, 2, 5, 5, 2), (3, 3, 2, 2), dict(padding="SAME")),  # two batch axes
        ((5, 5, 2), (3, 3, 2, 2), dict(padding="VALID")),  # no batch axis
    ]
    for xs, ks, kw in specs:
        x, k = rand(*xs), rand(*ks)
        params = {key: (list(v) if isinstance(v, tuple) else v) for key, v in kw.items()}
        out.append(case("conv", {"x": x, "kernel": k}, conv(x, k, **kw), **params))

    def convt(x, k, **kw):
        layer = nnx.ConvTranspose(k.shape[-2], k.shape[-1], k.shape[:-2], use_bias=False, rngs=nnx.Rngs(0), **kw)
        layer.kernel[...] = jnp.asarray(k)
        return layer(jnp.asarray(x))

    tspecs = [
        ((2, 5, 3), (3, 3, 2), dict(padding="SAME", strides=2)),
        ((2, 5, 3), (4, 3, 2), dict(padding="VALID", strides=3)),
        ((1, 4, 3, 2), (3, 3, 2, 3), dict(padding="SAME", strides=(2, 1))),
        ((1, 4, 3, 2), (3, 2, 2, 3), dict(padding=((1, 0), (2, 1)), strides=2, kernel_dilation=(1, 2))),
        ((2, 4, 3, 2), (3, 3, 2, 2), dict(padding="CIRCULAR", strides=2)),
        ((2, 4, 3, 2), (3, 3, 2, 2), dict(padding="VALID", strides=2, transpose_kernel=True)),
        ((2, 4, 3, 2), (3, 3, 2, 2), dict(padding="CIRCULAR", strides=(2, 1), transpose_kernel=True)),
    ]
    for xs, ks, kw in tspecs:
        x, k = rand(*xs), rand(*ks)
        params = {key: (list(v) if isinstance(v, tuple) else v) for key, v in kw.items()}
        out.append(case("conv_transpose", {"x": x, "kernel": k}, convt(x, k, **kw), **params))
    return out


def pool_cases():
    out = []
    specs = [
        ((2, 7, 3), (3,), (2,), "SAME"),
        ((2, 6, 5, 3), (2, 2), (2, 2), "VALID"),
        ((2, 6, 5, 3), (3, 2), (2, 1), "SAME"),
        ((2, 6, 5, 3), (3, 3), (1, 2), ((1, 2), (0, 1))),
        ((5, 5, 2), (2, 2), (1, 1), "SAME"),
        ((2, 2, 4, 4, 2), (2, 2), (2, 2), "VALID"),
    ]
    for xs, w, s, p in specs:
        x = rand(*xs)
        pp = p if isinstance(p, str) else [list(v) for v in p]
        out.append(case("max_pool", {"x": x}, nnx.max_pool(x, w, s, p), window=list(w), strides=list(s), padding=pp))
        out.append(case("min_pool", {"x": x}, nnx.min_pool(x, w, s, p), window=list(w), strides=list(s), padding=pp))
        for cip in (True, False):
            out.append(case("avg_pool", {"x": x}, nnx.avg_pool(x, w, s, p, count_include_pad=cip),
                            window=list(w), strides=list(s), padding=pp, count_include_pad=cip))
    return out


def attention_cases():
    out = []
    rng = jax.random.key(0)
    specs = [
        dict(q=(2, 5, 4, 8), k=(2, 6, 4, 8), v=(2, 6, 4, 8)),
        dict(q=(2, 5, 4, 8), k=(2, 6, 2, 8), v=(2, 6, 2, 8)),  # GQA
        dict(q=(3, 2, 4, 2, 4), k=(3, 2, 4, 2, 4), v=(3, 2, 4, 2, 4), causal=True),
        dict(q=(4, 2, 4), k=(6, 2, 4), v=(6, 2, 4)),  # no batch axis
        dict(q=(2, 5, 4, 8), k=(2, 5, 4, 8), v=(2, 5, 4, 8), bias=(1, 4, 5, 5), mask=(2, 1, 5, 5)),
        dict(q=(2, 3, 2, 4), k=(2, 3, 2, 4), v=(2, 3, 2, 4), mask=(2, 1, 3, 3), dropout=True),
    ]
    for sp in specs:
        q, k, v = rand(*sp["q"]), rand(*sp["k"]), rand(*sp["v"])
        inputs = {"query": q, "key": k, "value": v}
        bias = mask = None
        if "bias" in sp:
            bias = rand(*sp["bias"])
            inputs["bias"] = bias
        if "mask" in sp:
            mask = RNG.random(sp["mask"]) > 0.3
            mask[..., 0, :] = False  # a fully masked row
            inputs["mask"] = mask
        causal = sp.get("causal", False)
        kw = dict(bias=bias, mask=mask, is_causal=causal)
        params = dict(is_causal=causal)
        if sp.get("dropout"):
            rate = 0.25
            # The keep mask Flax draws with broadcast_dropout=True.
            nd = len(sp["q"])
            kshape = (1,) * (nd - 2) + (sp["q"][-3], sp["k"][-3])
            keep = jax.random.bernoulli(rng, 1 - rate, kshape)
            inputs["keep"] = np.asarray(keep)
            kw.update(dropout_rng=rng, dropout_rate=rate, deterministic=False)
            params["rate"] = rate
        w = attn.dot_product_attention_weights(q, k, **kw)
        y = nnx.dot_product_attention(q, k, v, **kw)
        out.append(case("attention_weights", dict(inputs), w, **params))
        out.append(case("attention", dict(inputs), y, **params))
    qi = RNG.integers(0, 3, (2, 4))
    ki = RNG.integers(0, 3, (2, 5))
    out.append(case("make_attention_mask", {"q": qi, "k": ki},
                    nnx.make_attention_mask(qi > 0, ki > 0, jnp.logical_and).astype(bool), extra_batch_dims=0))
    out.append(case("make_attention_mask", {"q": qi, "k": ki},
                    nnx.make_attention_mask(qi, ki, jnp.greater_equal, extra_batch_dims=1).astype(bool),
                    extra_batch_dims=1, pairwise="ge"))
    out.append(case("make_causal_mask", {"x": qi}, nnx.make_causal_mask(qi).astype(bool), extra_batch_dims=0))
    a = RNG.random((2, 1, 4, 5)) > 0.3
    b = RNG.random((2, 1, 4, 5)) > 0.3
    out.append(case("combine_masks", {"a": a, "b": b}, nnx.combine_masks(a, None, b).astype(bool)))
    return out


def norm_cases():
    out = []
    x = rand(3, 4, 5, 6) + 0.5
    for axes, use_mean, fast in [([-1], True, True), ([-1], True, False), ([0, 1, 2], True, True),
                                 ([1, 3], False, True), ([1, 2], True, False)]:
        mean, var = nrm._compute_stats(x, axes, None, use_mean=use_mean, use_fast_variance=fast)
        feat = [-1] if axes != [-1] else [-1]
        scale = rand(6)
        bias = rand(6)
        y = nrm._normalize(x, mean, var, scale, bias, axes, feat, None, 1e-5)
        out.append({"fn": "stats_normalize", "params": dict(axes=axes, use_mean=use_mean, fast=fast, epsilon=1e-5),
                    "inputs": {"x": arr(x), "scale": arr(scale), "bias": arr(bias)},
                    "output": arr(y), "mean": arr(mean), "var": arr(var)})
    for groups, fast in [(3, True), (2, False), (6, True)]:
        gn = nnx.GroupNorm(6, num_groups=groups, use_fast_variance=fast, rngs=nnx.Rngs(0))
        scale, bias = rand(6), rand(6)
        gn.scale[...] = jnp.asarray(scale)
        gn.bias[...] = jnp.asarray(bias)
        out.append(case("group_norm", {"x": x, "scale": scale, "bias": bias}, gn(x),
                        num_groups=groups, fast=fast, epsilon=1e-6))
    xd = rand(4, 5, 3)
    out.append(case("dot_last_axis", {"x": xd, "w": rand(3, 7)}, None) | {})
    out[-1]["output"] = arr(jnp.asarray(xd) @ jnp.asarray(np.array(out[-1]["inputs"]["w"]["data"], np.float32).reshape(3, 7)))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, fn in [("activation", activations), ("conv", conv_cases), ("pooling", pool_cases),
                     ("attention", attention_cases), ("normalization", norm_cases)]:
        path = os.path.join(OUT, f"{name}.json")
        with open(path, "w") as f:
            json.dump(fn(), f, separators=(",", ":"))
        print(path, os.path.getsize(path))


if __name__ == "__main__":
    main()
