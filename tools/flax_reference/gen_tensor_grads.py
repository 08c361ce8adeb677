"""Writes reference gradients for nnx-tensor's conformance tests.

For each op (every option that changes the math, broadcasting cases, reductions
with and without keepdims, large logits) it takes `jax.vjp` at fixed random
inputs with a fixed random cotangent, and stores inputs, output, cotangent and
the inputs' cotangents. It also takes Flax's `nnx.value_and_grad` of a small
MLP's cross-entropy loss. Output: nnx-tensor/tests/data/grads.json.
Run with the Flax environment's python:

    python tools/flax_reference/gen_tensor_grads.py
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from reference_json import arr

jax.config.update("jax_default_matmul_precision", "highest")
RNG = np.random.default_rng(20261129)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "nnx-tensor", "tests", "data", "grads.json")


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def positive(*shape):
    return (0.5 + np.abs(RNG.standard_normal(shape))).astype(np.float32)


def case(op, fn, inputs, **params):
    """`fn` applied to the named float `inputs`; vjp with a random cotangent."""
    names = list(inputs)
    out, vjp = jax.vjp(lambda *xs: fn(*xs), *[jnp.asarray(inputs[n]) for n in names])
    ct = rand(*out.shape)
    grads = vjp(jnp.asarray(ct))
    return {"op": op, "params": params, "inputs": {n: arr(inputs[n]) for n in names},
            "output": arr(out), "cotangent": arr(ct), "grads": {n: arr(g) for n, g in zip(names, grads)}}


def elementwise_cases():
    out = []
    for a, b in [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1, 4), (3, 1)), ((), (2, 2))]:
        x, y = rand(*a), rand(*b)
        out.append(case("add", jnp.add, {"a": x, "b": y}))
        out.append(case("sub", jnp.subtract, {"a": x, "b": y}))
        out.append(case("mul", jnp.multiply, {"a": x, "b": y}))
        out.append(case("div", jnp.divide, {"a": x, "b": positive(*b) * np.sign(rand(*b) + 0.1)}))
    x, p = rand(2, 3), positive(2, 3)
    out.append(case("add_scalar", lambda x: x + 1.5, {"x": x}, c=1.5))
    out.append(case("rsub_scalar", lambda x: 1.5 - x, {"x": x}, c=1.5))
    out.append(case("mul_scalar", lambda x: x * -2.5, {"x": x}, c=-2.5))
    out.append(case("div_scalar", lambda x: x / 4.0, {"x": x}, c=4.0))
    out.append(case("rdiv_scalar", lambda x: 3.0 / x, {"x": p}, c=3.0))
    out.append(case("neg", jnp.negative, {"x": x}))
    wide = rand(3, 5, scale=4.0)
    wide[0, :] = [-30.0, -1e-3, 0.0, 1e-3, 30.0]
    for name, f in [("exp", jnp.exp), ("tanh", jnp.tanh), ("sigmoid", jax.nn.sigmoid), ("relu", jax.nn.relu),
                    ("silu", jax.nn.silu), ("square", jnp.square), ("abs", jnp.abs),
                    ("softplus", jax.nn.softplus), ("log_sigmoid", jax.nn.log_sigmoid)]:
        out.append(case(name, f, {"x": wide if name != "exp" else rand(3, 5)}))
    for approx in (True, False):
        out.append(case("gelu", lambda x, a=approx: jax.nn.gelu(x, approximate=a), {"x": wide}, approximate=approx))
    out.append(case("log", jnp.log, {"x": positive(3, 4)}))
    out.append(case("sqrt", jnp.sqrt, {"x": positive(3, 4)}))
    return out


def matmul_cases():
    shapes = [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 5)),
              ((2, 3, 4), (4,)), ((4,), (4,)), ((3, 4), (2, 4, 5))]
    return [case("matmul", jnp.matmul, {"a": rand(*a), "b": rand(*b)}) for a, b in shapes]


def layout_cases():
    x = rand(2, 3, 4)
    out = [
        case("reshape", lambda x: x.reshape(6, 4), {"x": x}, shape=[6, 4]),
        case("permute", lambda x: jnp.transpose(x, (2, 0, 1)), {"x": x}, axes=[2, 0, 1]),
        case("transpose", lambda x: x.T, {"x": x}),
        case("swap_axes", lambda x: jnp.swapaxes(x, -1, -2), {"x": x}, a=-1, b=-2),
        case("slice", lambda x: x[:, 1:3], {"x": x}, axis=1, start=1, end=3),
        case("slice", lambda x: x[..., 0:1], {"x": x}, axis=-1, start=0, end=1),
    ]
    parts = {"a": rand(2, 1, 4), "b": rand(2, 3, 4), "c": rand(2, 2, 4)}
    out.append(case("concat", lambda a, b, c: jnp.concatenate([a, b, c], axis=1), parts, axis=1))
    return out


def reduction_cases():
    out = []
    x = rand(2, 3, 4)
    for axes in ([1], [0, 2], [-1], [0, 1, 2]):
        for keep in (False, True):
            out.append(case("sum", lambda x, a=axes, k=keep: jnp.sum(x, axis=tuple(a), keepdims=k), {"x": x}, axes=axes, keepdims=keep))
            out.append(case("mean", lambda x, a=axes, k=keep: jnp.mean(x, axis=tuple(a), keepdims=k), {"x": x}, axes=axes, keepdims=keep))
    ties = np.round(rand(3, 4), 0)
    ties[0, :] = [2.0, 2.0, -1.0, 2.0]  # a three-way tie shares the gradient
    for axes, keep in [([1], False), ([1], True), ([0], False), ([0, 1], False)]:
        out.append(case("max", lambda x, a=axes, k=keep: jnp.max(x, axis=tuple(a), keepdims=k), {"x": ties}, axes=axes, keepdims=keep))
    return out


def softmax_cases():
    out = []
    small, large = rand(2, 3, 5), rand(2, 3, 5, scale=300.0)
    large[0, 0, :] = [1000.0, 999.0, -1000.0, 1000.0, 0.0]
    for x in (small, large):
        for axis in (-1, 0, 1):
            out.append(case("softmax", lambda x, a=axis: jax.nn.softmax(x, axis=a), {"x": x}, axis=axis))
            out.append(case("log_softmax", lambda x, a=axis: jax.nn.log_softmax(x, axis=a), {"x": x}, axis=axis))
        for axes in ([-1], [0, 2]):
            for keep in (False, True):
                out.append(case("logsumexp", lambda x, a=axes, k=keep: jax.nn.logsumexp(x, axis=tuple(a), keepdims=k),
                                {"x": x}, axes=axes, keepdims=keep))
    return out


def selection_cases():
    out = []
    mask = RNG.random((2, 3)) > 0.5
    out.append(case("where", lambda t, f: jnp.where(mask, t, f), {"on_true": rand(2, 3), "on_false": rand(3)}, mask=arr(mask)))
    out.append(case("where", lambda t, f: jnp.where(mask, t, f), {"on_true": rand(2, 1), "on_false": rand()}, mask=arr(mask)))
    table = rand(5, 3)
    ids = np.array([[0, 4, 4, 1], [2, 2, -1, 0]], np.int32)
    out.append(case("take", lambda t: jnp.take(t, ids, axis=0), {"x": table}, indices=arr(ids), axis=0))
    x = rand(2, 5, 3)
    ids1 = np.array([3, 0, 3], np.int32)
    out.append(case("take", lambda t: jnp.take(t, ids1, axis=1), {"x": x}, indices=arr(ids1), axis=1))
    logits = rand(4, 5)
    labels = np.array([[1], [4], [0], [1]], np.int32)
    out.append(case("take_along_axis", lambda t: jnp.take_along_axis(t, labels, axis=1), {"x": logits}, indices=arr(labels), axis=1))
    y = rand(3, 4, 2)
    idx = RNG.integers(0, 4, (3, 2, 2)).astype(np.int32)
    out.append(case("take_along_axis", lambda t: jnp.take_along_axis(t, idx, axis=1), {"x": y}, indices=arr(idx), axis=1))
    for shape, rate in [((3, 4), 0.25), ((3, 1), 0.5), ((3, 4), 1.0)]:
        keep = RNG.random(shape) > rate
        xd = rand(3, 4)

        def flax_dropout(x, keep=keep, rate=rate):
            # flax.nnx.Dropout's formula with the mask given.
            if rate == 1.0:
                return jnp.zeros_like(x)
            return jnp.where(jnp.broadcast_to(keep, x.shape), x / (1.0 - rate), jnp.zeros_like(x))

        out.append(case("dropout", flax_dropout, {"x": xd}, mask=arr(keep), rate=rate))
    return out


class Mlp(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(4, 8, rngs=rngs)
        self.l2 = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.l2(jax.nn.gelu(self.l1(x)))


def mlp_case():
    model = Mlp(nnx.Rngs(0))
    x = rand(6, 4)
    y = np.array([0, 2, 1, 1, 0, 2], np.int32)

    def loss_fn(m):
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    flat = lambda s: {"/".join(map(str, p)): arr(v.get_value()) for p, v in s.flat_state()}
    return {"x": arr(x), "labels": arr(y), "params": flat(nnx.state(model, nnx.Param)), "loss": float(loss),
            "grads": flat(grads), "grads_shapes_repr": str(jax.tree.map(jnp.shape, grads))}


def main():
    data = {"ops": elementwise_cases() + matmul_cases() + layout_cases() + reduction_cases() + softmax_cases()
            + selection_cases(), "mlp": mlp_case()}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    print(OUT, os.path.getsize(OUT), len(data["ops"]), "op cases")


if __name__ == "__main__":
    main()
