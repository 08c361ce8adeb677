"""Writes reference gradients for nnx-tensor's normalization and activation ops.

Every case takes `jax.vjp` at fixed random inputs with fixed random cotangents
and stores inputs, outputs, cotangents and the inputs' cotangents:

- "stats": Flax's `_compute_stats` (mean and var; use_mean, use_fast_variance,
  several axes);
- "normalize": Flax's `_normalize` with the statistics as inputs (BatchNorm's
  eval mode: running statistics of shape (features,)), with and without
  scale/bias;
- "layer": the real `nnx.BatchNorm` (training and eval), `nnx.LayerNorm`,
  `nnx.RMSNorm`, `nnx.GroupNorm`, `nnx.InstanceNorm` over (x, scale, bias) and
  `nnx.PReLU` over (x, negative_slope),
  with the options that change the math (axes, groups, epsilon, fast
  variance, scale/bias present or not);
- "activation": each `jax.nn` activation nnx has, with its parameters, at
  points on and near its kinks.

It also takes Flax's `nnx.value_and_grad` of a small model with BatchNorm (in
training mode: the running statistics it leaves behind are stored too) and
Dropout (its mask drawn from the 'dropout' stream of `nnx.Rngs(dropout=..)`).
Output: nnx-tensor/tests/data/grad_norm.json. Run with the Flax environment's
python:

    python tools/flax_reference/gen_grad_norm.py
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from flax.nnx.nn.normalization import _compute_stats, _normalize
from reference_json import arr

RNG = np.random.default_rng(20261130)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "nnx-tensor", "tests", "data", "grad_norm.json")


def rand(*shape, scale=1.0, shift=0.0):
    return (RNG.standard_normal(shape) * scale + shift).astype(np.float32)


def positive(*shape):
    return (0.5 + np.abs(RNG.standard_normal(shape))).astype(np.float32)


def vjp_case(op, fn, inputs, **params):
    """`fn` (returning one array or a tuple) of the named float `inputs`."""
    names = list(inputs)
    outs, vjp = jax.vjp(lambda *xs: fn(*xs), *[jnp.asarray(inputs[n]) for n in names])
    single = not isinstance(outs, tuple)
    outs = (outs,) if single else outs
    cts = tuple(rand(*o.shape) for o in outs)
    grads = vjp(jnp.asarray(cts[0]) if single else tuple(jnp.asarray(c) for c in cts))
    return {"op": op, "params": params, "inputs": {n: arr(inputs[n]) for n in names},
            "outputs": [arr(o) for o in outs], "cotangents": [arr(c) for c in cts],
            "grads": {n: arr(g) for n, g in zip(names, grads)}}


def stats_cases():
    out = []
    x = rand(4, 3, 5, shift=0.7)
    for axes in ([0, 1], [-1], [1], [0, 2], [0, 1, 2]):
        for use_mean in (True, False):
            for fast in (True, False):
                out.append(vjp_case("stats", lambda x, a=axes, m=use_mean, f=fast:
                                    _compute_stats(x, a, None, use_mean=m, use_fast_variance=f),
                                    {"x": x}, axes=axes, use_mean=use_mean, fast=fast))
    return out


def normalize_cases():
    out = []
    x = rand(4, 3, 5, shift=0.3)
    for red, feat, stats_shape, eps in [([0, 1], [-1], (5,), 1e-5), ([-1], [-1], (4, 3), 1e-6),
                                        ([1, 2], [1, 2], (4,), 0.1), ([0, 1], [-1], (1, 1, 5), 1e-5)]:
        fshape = tuple(x.shape[a] for a in feat)
        for use_scale, use_bias in ((True, True), (False, True), (True, False), (False, False)):
            inputs = {"x": x, "mean": rand(*stats_shape, scale=0.3), "var": positive(*stats_shape)}
            if use_scale:
                inputs["scale"] = rand(*fshape, shift=1.0)
            if use_bias:
                inputs["bias"] = rand(*fshape)

            def fn(x, mean, var, *rest, red=red, feat=feat, eps=eps, us=use_scale, ub=use_bias):
                rest = list(rest)
                scale = rest.pop(0) if us else None
                bias = rest.pop(0) if ub else None
                return _normalize(x, mean, var, scale, bias, red, feat, None, eps)

            out.append(vjp_case("normalize", fn, inputs, reduction_axes=red, feature_axes=feat, epsilon=eps))
    return out


def layer_case(layer, x, kind, call_kw=None, **params):
    """vjp of the Flax `layer` (called with the keyword arguments `call_kw`)
    over x and its Params (scale, bias when present)."""
    graphdef, state = nnx.split(layer)
    pstate = nnx.state(layer, nnx.Param)
    names = sorted(k for k, _ in pstate.items())
    inputs = {"x": x}
    for n in names:
        inputs[n] = np.asarray(pstate[n].get_value()) + rand(*pstate[n].get_value().shape, scale=0.5)

    def fn(x, *ps):
        st = jax.tree.map(lambda v: v, state)
        for n, p in zip(names, ps):
            st[n] = st[n].replace(p)
        return nnx.merge(graphdef, st)(x, **(call_kw or {}))

    return vjp_case("layer", fn, inputs, layer=kind, **params)


def layer_cases():
    out = []
    rngs = nnx.Rngs(0)
    x2 = rand(6, 8, shift=0.5)
    x4 = rand(2, 3, 4, 6, scale=2.0, shift=1.0)
    for train in (True, False):
        for us, ub in ((True, True), (False, False), (True, False)):
            for fast in (True, False):
                bn = nnx.BatchNorm(8, use_running_average=not train, use_scale=us, use_bias=ub,
                                   use_fast_variance=fast, epsilon=1e-5, rngs=rngs)
                if not train:
                    bn.mean.set_value(jnp.asarray(rand(8, scale=0.3)))
                    bn.var.set_value(jnp.asarray(positive(8)))
                    params = {"mean": arr(bn.mean.get_value()), "var": arr(bn.var.get_value())}
                else:
                    params = {}
                out.append(layer_case(bn, x2, "BatchNorm", use_running_average=not train, use_scale=us,
                                      use_bias=ub, fast=fast, axis=-1, epsilon=1e-5, **params))
    bn1 = nnx.BatchNorm(3, axis=1, epsilon=0.01, rngs=rngs)
    out.append(layer_case(bn1, x4[:, :, :, :3].transpose(0, 3, 1, 2).copy(), "BatchNorm", use_running_average=False,
                          use_scale=True, use_bias=True, fast=True, axis=1, epsilon=0.01))
    for red, feat, eps in (([-1], [-1], 1e-6), ([-2, -1], [-1], 1e-3), ([1, 2, 3], [-1], 1e-6)):
        for us, ub in ((True, True), (False, False), (False, True)):
            for fast in (True, False):
                ln = nnx.LayerNorm(6, reduction_axes=red, feature_axes=feat, use_scale=us, use_bias=ub,
                                   use_fast_variance=fast, epsilon=eps, rngs=rngs)
                out.append(layer_case(ln, x4, "LayerNorm", reduction_axes=red, feature_axes=feat, use_scale=us,
                                      use_bias=ub, fast=fast, epsilon=eps))
    for red, eps in (([-1], 1e-6), ([-2, -1], 0.1)):
        for us in (True, False):
            rms = nnx.RMSNorm(6, reduction_axes=red, use_scale=us, epsilon=eps, rngs=rngs)
            out.append(layer_case(rms, x4, "RMSNorm", reduction_axes=red, feature_axes=[-1], use_scale=us,
                                  fast=True, epsilon=eps))
    # Groups of 4 or more values: JAX's f32 one-pass variance of 2 nearby values
    # loses most digits (nnx accumulates in f64), which would test rounding, not math.
    for groups, x in ((3, x4), (2, x4), (6, x4), (1, x2), (2, x2)):
        for us, ub, fast, eps in ((True, True, True, 1e-6), (False, False, False, 1e-6), (True, True, False, 0.1)):
            gn = nnx.GroupNorm(x.shape[-1], num_groups=groups, use_scale=us, use_bias=ub, use_fast_variance=fast,
                               epsilon=eps, rngs=rngs)
            out.append(layer_case(gn, x, "GroupNorm", num_groups=groups, use_scale=us, use_bias=ub, fast=fast,
                                  epsilon=eps))
    for feat, us, ub, fast in (([-1], True, True, True), ([-1], False, False, False), ([1, -1], True, True, True)):
        n = 6 if feat == [-1] else 18
        inorm = nnx.InstanceNorm(n, feature_axes=feat, use_scale=us, use_bias=ub, use_fast_variance=fast,
                                 rngs=rngs)
        out.append(layer_case(inorm, x4, "InstanceNorm", feature_axes=feat, use_scale=us, use_bias=ub, fast=fast,
                              epsilon=1e-6))
    for init in (0.01, 0.3):
        out.append(layer_case(nnx.PReLU(negative_slope_init=init), kinks(0.0), "PReLU"))
    return out


def kinks(*points, spread=3.0):
    """Points exactly on and 1e-3 either side of each kink, then random values."""
    near = [p + d for p in points for d in (-1e-3, 0.0, 1e-3)]
    fill = rand(24 - len(near), scale=spread)
    return np.concatenate([np.asarray(near, np.float32), fill]).reshape(4, 6).astype(np.float32)


def activation_cases():
    out = []
    simple = [("relu6", jax.nn.relu6, (0.0, 6.0), 4.0), ("hard_tanh", jax.nn.hard_tanh, (-1.0, 1.0), 1.5),
              ("hard_sigmoid", jax.nn.hard_sigmoid, (-3.0, 3.0), 4.0), ("hard_silu", jax.nn.hard_silu, (-3.0, 3.0), 4.0),
              ("soft_sign", jax.nn.soft_sign, (0.0,), 3.0), ("selu", jax.nn.selu, (0.0,), 3.0),
              ("swish", jax.nn.swish, (0.0,), 3.0), ("hard_swish", jax.nn.hard_swish, (-3.0, 3.0), 4.0)]
    for name, f, pts, spread in simple:
        out.append(vjp_case(name, f, {"x": kinks(*pts, spread=spread)}))
    for alpha in (1.0, 0.5, 2.0):
        out.append(vjp_case("elu", lambda x, a=alpha: jax.nn.elu(x, a), {"x": kinks(0.0)}, alpha=alpha))
        out.append(vjp_case("celu", lambda x, a=alpha: jax.nn.celu(x, a), {"x": kinks(0.0)}, alpha=alpha))
    for slope in (0.01, 0.2, -0.5):
        out.append(vjp_case("leaky_relu", lambda x, s=slope: jax.nn.leaky_relu(x, s), {"x": kinks(0.0)},
                            negative_slope=slope))
    x = rand(3, 4, 6, scale=2.0)
    for axis in (-1, 1, 0):
        xa = x if axis != 0 else rand(4, 3, scale=2.0)
        out.append(vjp_case("glu", lambda x, a=axis: jax.nn.glu(x, a), {"x": xa}, axis=axis))
    for axes, eps in (([-1], 1e-5), ([0, 2], 1e-5), ([-1], 0.1)):
        out.append(vjp_case("standardize", lambda x, a=axes, e=eps: jax.nn.standardize(x, tuple(a), epsilon=e),
                            {"x": rand(3, 4, 6, shift=1.0)}, axes=axes, epsilon=eps))
    return out


def one_hot_cases():
    ids = np.array([[0, 2, 5], [-1, 1, 2]], np.int32)
    return [{"indices": arr(ids), "num_classes": 3, "axis": axis, "output": arr(jax.nn.one_hot(ids, 3, axis=axis))}
            for axis in (-1, 0, 1)]


class Model(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(5, 8, rngs=rngs)
        self.bn = nnx.BatchNorm(8, momentum=0.9, rngs=rngs)
        self.drop = nnx.Dropout(0.25, rngs=rngs)
        self.out = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.out(self.drop(nnx.relu(self.bn(self.linear(x)))))


def model_case():
    model = Model(nnx.Rngs(params=0, dropout=1))
    x = rand(7, 5)
    y = np.array([0, 2, 1, 1, 0, 2, 1], np.int32)
    flat = lambda s: {"/".join(map(str, p)): arr(v.get_value()) for p, v in s.flat_state()}
    before = flat(nnx.state(model, nnx.Param))

    def loss_fn(m):
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    return {"x": arr(x), "labels": arr(y), "params": before, "loss": float(loss), "grads": flat(grads),
            "batch_stats": flat(nnx.state(model, nnx.BatchStat)),
            "grads_repr": str(jax.tree.map(jnp.shape, grads))}


def main():
    data = {"ops": stats_cases() + normalize_cases() + layer_cases() + activation_cases(),
            "one_hot": one_hot_cases(), "model": model_case()}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    print(OUT, os.path.getsize(OUT), len(data["ops"]), "op cases")


if __name__ == "__main__":
    main()
