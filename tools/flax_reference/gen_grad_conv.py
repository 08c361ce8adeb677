"""Writes reference gradients of convolution and pooling for nnx's conformance tests.

For every option that changes the math (padding modes, strides, input and
kernel dilation, feature groups, 1-D/2-D/3-D, transposed convolution with and
without `transpose_kernel`, each pool kind with its paddings and
`count_include_pad`, ties in max/min windows, batch-less and multi-batch
inputs) it takes `jax.vjp` of Flax's own computation (`nnx.Conv` /
`nnx.ConvTranspose` without bias, `nnx.max_pool` / `avg_pool` / `min_pool`)
at fixed random inputs with a fixed random cotangent, and stores inputs,
output, cotangent and the inputs' cotangents. It also takes
`nnx.value_and_grad` of a small conv model (Conv, relu, max_pool, grouped
dilated Conv, ConvTranspose) with a squared-error loss.
Output: nnx-tensor/tests/data/grad_conv.json (and the model case in
nnx-layers/tests/data/layers/grad_conv_model.json). Run with the Flax environment's python:

    python tools/flax_reference/gen_grad_conv.py
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from reference_json import arr

jax.config.update("jax_default_matmul_precision", "highest")
RNG = np.random.default_rng(20261130)
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "nnx-tensor", "tests", "data", "grad_conv.json")
# The model case again, for the Conv / ConvTranspose layers' own test.
OUT_LAYERS = os.path.join(ROOT, "nnx-layers", "tests", "data", "layers", "grad_conv_model.json")


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def lax_padding(p):
    """The JSON padding (a string or (low, high) pairs) as Flax takes it."""
    return p if isinstance(p, str) else [tuple(pair) for pair in p]


def vjp_case(op, fn, inputs, params):
    names = list(inputs)
    out, vjp = jax.vjp(fn, *[jnp.asarray(inputs[n]) for n in names])
    ct = rand(*out.shape)
    grads = vjp(jnp.asarray(ct))
    return {"op": op, "params": params, "inputs": {n: arr(inputs[n]) for n in names},
            "output": arr(out), "cotangent": arr(ct), "grads": {n: arr(g) for n, g in zip(names, grads)}}


def layer_fn(layer):
    """`(x, kernel) -> layer(x)` with the layer's kernel replaced, through split/merge."""
    graphdef, state = nnx.split(layer)

    def fn(x, k):
        s = nnx.clone(state)
        s.replace_by_pure_dict({"kernel": k})
        return nnx.merge(graphdef, s)(x)

    return fn


def conv_case(x_shape, kernel_size, fin, fout, padding="SAME", strides=1, input_dilation=1,
              kernel_dilation=1, groups=1):
    n = len(kernel_size)
    layer = nnx.Conv(fin, fout, kernel_size, strides=strides, padding=lax_padding(padding),
                     input_dilation=input_dilation, kernel_dilation=kernel_dilation,
                     feature_group_count=groups, use_bias=False, rngs=nnx.Rngs(0))
    per = lambda v: [v] * n if isinstance(v, int) else list(v)
    params = {"strides": per(strides), "padding": padding, "input_dilation": per(input_dilation),
              "kernel_dilation": per(kernel_dilation), "feature_group_count": groups}
    k = rand(*layer.kernel.value.shape)
    return vjp_case("conv", layer_fn(layer), {"x": rand(*x_shape), "kernel": k}, params)


def conv_cases():
    out = []
    for p in ["SAME", "VALID", "CIRCULAR", "REFLECT", "CAUSAL", [[2, 1]], [[0, 3]]]:
        out.append(conv_case((2, 7, 3), (3,), 3, 4, padding=p))
    out += [
        conv_case((2, 7, 3), (3,), 3, 4, strides=2),
        conv_case((2, 8, 3), (3,), 3, 4, padding="VALID", strides=3),
        conv_case((2, 9, 3), (3,), 3, 4, kernel_dilation=2),
        conv_case((2, 9, 3), (3,), 3, 4, padding="CAUSAL", kernel_dilation=2),
        conv_case((2, 9, 3), (3,), 3, 4, padding="CIRCULAR", strides=2, kernel_dilation=2),
        conv_case((2, 9, 3), (4,), 3, 4, padding="REFLECT", kernel_dilation=2),
        conv_case((2, 5, 3), (3,), 3, 4, padding=[[1, 2]], input_dilation=2),
        conv_case((2, 5, 3), (3,), 3, 4, padding=[[2, 2]], input_dilation=3, strides=2, kernel_dilation=2),
        conv_case((2, 7, 4), (3,), 4, 6, groups=2),
        conv_case((2, 7, 4), (3,), 4, 4, groups=4, strides=2),
        conv_case((7, 3), (3,), 3, 2),  # no batch axis
        conv_case((2, 3, 6, 2), (3,), 2, 3, padding="VALID"),  # two batch axes
    ]
    for p in ["SAME", "VALID", "CIRCULAR", "REFLECT", [[1, 0], [2, 1]]]:
        out.append(conv_case((2, 6, 5, 3), (3, 2), 3, 4, padding=p))
    out += [
        conv_case((2, 7, 6, 3), (3, 3), 3, 4, strides=(2, 1)),
        conv_case((2, 7, 6, 3), (3, 2), 3, 4, kernel_dilation=(1, 2), padding="VALID"),
        conv_case((2, 4, 3, 2), (2, 3), 2, 3, padding=[[1, 1], [0, 2]], input_dilation=(2, 1)),
        conv_case((2, 6, 5, 6), (3, 3), 6, 6, groups=3, strides=2),
        conv_case((5, 5, 2), (3, 3), 2, 3, padding="CIRCULAR"),
        conv_case((1, 4, 5, 3, 2), (2, 3, 2), 2, 3),
        conv_case((1, 5, 4, 6, 2), (3, 2, 3), 2, 4, padding="VALID", strides=(2, 1, 2), kernel_dilation=(1, 2, 1)),
        conv_case((1, 4, 3, 4, 4), (2, 2, 2), 4, 2, groups=2, padding="CIRCULAR"),
    ]
    return out


def conv_transpose_case(x_shape, kernel_size, fin, fout, padding="SAME", strides=1, kernel_dilation=1,
                        transpose_kernel=False):
    n = len(kernel_size)
    layer = nnx.ConvTranspose(fin, fout, kernel_size, strides=strides, padding=lax_padding(padding),
                              kernel_dilation=kernel_dilation, transpose_kernel=transpose_kernel,
                              use_bias=False, rngs=nnx.Rngs(0))
    per = lambda v: [v] * n if isinstance(v, int) else list(v)
    params = {"strides": per(strides), "padding": padding, "kernel_dilation": per(kernel_dilation),
              "transpose_kernel": transpose_kernel}
    k = rand(*layer.kernel.value.shape)
    return vjp_case("conv_transpose", layer_fn(layer), {"x": rand(*x_shape), "kernel": k}, params)


def conv_transpose_cases():
    out = []
    for p in ["SAME", "VALID", "CIRCULAR", [[1, 2]]]:
        for s in (1, 2):
            out.append(conv_transpose_case((2, 5, 3), (3,), 3, 4, padding=p, strides=s))
    out += [
        conv_transpose_case((2, 5, 3), (3,), 3, 4, strides=2, kernel_dilation=2),
        conv_transpose_case((2, 5, 3), (4,), 3, 4, strides=3, padding="VALID"),
        conv_transpose_case((2, 5, 3), (3,), 3, 4, strides=2, transpose_kernel=True),
        conv_transpose_case((2, 5, 3), (4,), 3, 4, strides=2, padding="CIRCULAR", transpose_kernel=True),
        conv_transpose_case((5, 3), (3,), 3, 2, strides=2),  # no batch axis
        conv_transpose_case((2, 4, 3, 2), (3, 2), 2, 3, strides=(2, 2)),
        conv_transpose_case((2, 4, 3, 2), (3, 3), 2, 3, strides=(2, 1), padding="VALID", kernel_dilation=(1, 2)),
        conv_transpose_case((2, 4, 3, 2), (3, 2), 2, 3, strides=2, padding="CIRCULAR", transpose_kernel=True),
        conv_transpose_case((1, 3, 2, 3, 2), (2, 2, 2), 2, 2, strides=2),
    ]
    return out


def pool_case(kind, x, window, strides, padding, count_include_pad=True):
    pad = lax_padding(padding)
    if kind == "max_pool":
        fn = lambda x: nnx.max_pool(x, tuple(window), tuple(strides), pad)
    elif kind == "min_pool":
        fn = lambda x: nnx.min_pool(x, tuple(window), tuple(strides), pad)
    else:
        fn = lambda x: nnx.avg_pool(x, tuple(window), tuple(strides), pad, count_include_pad)
    params = {"window": list(window), "strides": list(strides), "padding": padding,
              "count_include_pad": count_include_pad}
    return vjp_case(kind, fn, {"x": x}, params)


def pool_cases():
    out = []
    x1, x2, x3 = rand(2, 7, 3), rand(2, 6, 5, 3), rand(1, 4, 5, 4, 2)
    ties = np.round(rand(2, 6, 5, 3), 0)  # many equal values: the first extreme wins
    for kind in ("max_pool", "min_pool", "avg_pool"):
        for pad in ("VALID", "SAME", [[1, 2]]):
            out.append(pool_case(kind, x1, (3,), (2,), pad))
        for pad in ("VALID", "SAME", [[1, 0], [2, 1]]):
            out.append(pool_case(kind, x2, (2, 3), (2, 1), pad))
        for pad in ("VALID", "SAME", [[1, 0], [1, 1]]):
            out.append(pool_case(kind, ties, (3, 2), (1, 2), pad))
        out.append(pool_case(kind, x3, (2, 2, 3), (2, 1, 1), "SAME"))
        out.append(pool_case(kind, rand(6, 5, 2), (2, 2), (2, 2), "VALID"))  # no batch axis
        out.append(pool_case(kind, rand(2, 3, 6, 2), (3,), (1,), "SAME"))  # two batch axes
    for pad in ("SAME", [[1, 2]], [[2, 0], [1, 1]]):
        x = x1 if len(lax_padding(pad)) == 1 and pad != "SAME" else x2
        window, strides = ((3,), (2,)) if x is x1 else ((3, 2), (2, 2))
        out.append(pool_case("avg_pool", x, window, strides, pad, count_include_pad=False))
    return out


class ConvModel(nnx.Module):
    """Conv 3x3 -> relu -> max_pool 2 -> grouped dilated Conv -> ConvTranspose stride 2."""

    def __init__(self, rngs):
        self.conv1 = nnx.Conv(2, 4, (3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(4, 4, (3, 3), kernel_dilation=2, feature_group_count=2, padding="CIRCULAR", rngs=rngs)
        self.up = nnx.ConvTranspose(4, 3, (3, 3), strides=2, rngs=rngs)

    def __call__(self, x):
        h = nnx.max_pool(nnx.relu(self.conv1(x)), (2, 2), (2, 2))
        return self.up(nnx.relu(self.conv2(h)))


def model_case():
    model = ConvModel(nnx.Rngs(0))
    # Non-zero biases, so that their gradients and the relu masks are exercised.
    for layer in (model.conv1, model.conv2, model.up):
        layer.bias.value = jnp.asarray(rand(*layer.bias.value.shape, scale=0.1))
    x, target = rand(2, 8, 6, 2), rand(2, 8, 6, 3)
    params = {"/".join(str(k) for k in path): arr(v.value) for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}

    def loss_fn(m):
        return jnp.mean((m(x) - target) ** 2)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    flat = {"/".join(str(k) for k in path): arr(v.value) for path, v in nnx.to_flat_state(grads)}
    return {"x": arr(x), "target": arr(target), "params": params, "loss": float(loss), "grads": flat}


def main():
    data = {"ops": conv_cases() + conv_transpose_cases() + pool_cases(), "model": model_case()}
    with open(OUT, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    with open(OUT_LAYERS, "w") as f:
        json.dump(data["model"], f, separators=(",", ":"))
    print(f"{len(data['ops'])} cases -> {OUT}, model -> {OUT_LAYERS}")


if __name__ == "__main__":
    main()
