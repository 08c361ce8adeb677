"""Writes reference data for the call-time arguments of nnx-layers' Dropout and
normalization layers, from the real Flax NNX 0.12.8:

- Dropout(x, deterministic=..., rngs=...): which stream each call draws from
  and what it leaves behind (the layer's stream, the call's `Rngs`);
- BatchNorm(x, use_running_average=..., mask=...): outputs and running
  statistics after each call;
- LayerNorm / RMSNorm / GroupNorm / InstanceNorm (x, mask=...);
- GroupNorm's `reduction_axes`. Flax 0.12 repeats the group statistics along
  axis 1 (`jnp.repeat(mean, group_size, axis=1)`), which is the group axis only
  when exactly one non-feature axis is left out of the reduction; with more it
  pairs statistics with the wrong elements, and with none it raises. For those
  cases the reference `y` is the documented meaning computed with NumPy in
  float64 (each group normalized over the listed axes), and Flax's output is
  kept as `flax_y`;
- MultiHeadAttention(x, deterministic=..., rngs=...): attention dropout with
  call-time rngs (an `Rngs`, whose `dropout` stream, or `default` without
  one, gives the key), outputs and every stream's count after each call;
- gradients: `jax.vjp` of those calls over x, scale and bias (gen_grad_norm's
  layer cases), and Flax's
  `nnx.value_and_grad` of a model whose BatchNorm takes a mask and whose
  Dropout is switched on, with call-time rngs, for the call.

Same layout as gen_layers_stateful.py (cases with layer, config, state,
steps) and gen_grad_norm.py (vjp cases). Output:
nnx-layers/tests/data/layers/call_overrides.json.

    python tools/flax_reference/gen_call_overrides.py
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from gen_grad_norm import layer_case
from gen_layers_stateful import build_kwargs, state_record
from reference_json import arr

jax.config.update("jax_default_matmul_precision", "highest")
RNG = np.random.default_rng(16)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "nnx-layers", "tests", "data", "layers",
                   "call_overrides.json")


def rand(*shape, scale=1.0, shift=0.0):
    return (RNG.standard_normal(shape) * scale + shift).astype(np.float32)


def mask_of(shape, keep=0.7):
    """A random mask with at least two elements kept per leading index."""
    m = RNG.random(shape) < keep
    m.reshape(shape[0], -1)[:, :2] = True
    return m


def finite_mask(shape, call):
    """A mask leaving no statistic of the stateless `call` empty (NaN) or with
    a variance so small that f32 rounding, not the math, decides the result
    (one or two kept values): every output stays within 8."""
    while True:
        m = mask_of(shape)
        y = np.asarray(call(m))
        if np.isfinite(y).all() and np.abs(y).max() < 8.0:
            return m


def dropout():
    cases = []
    # (config, layer streams or None, input shape, steps: (deterministic, call streams or None))
    configs = [
        ({"rate": 0.5}, {"default": 0}, (4, 6),
         [(True, None), (None, {"dropout": 5}), (None, None), (False, {"default": 3}), (None, None)]),
        ({"rate": 0.5, "deterministic": True}, {"default": 1}, (3, 5),
         [(None, None), (False, None), (False, {"dropout": 2}), (True, {"dropout": 2}), (None, None)]),
        ({"rate": 0.3, "rng_collection": "noise"}, {"default": 0, "noise": 4}, (3, 5),
         [(None, {"default": 1, "noise": 9}), (None, {"default": 1}), (None, None)]),
        ({"rate": 0.25, "broadcast_dims": [0]}, None, (3, 4, 5),
         [(None, {"dropout": 6}), (True, None), (None, {"default": 7})]),
        ({"rate": 1.0}, {"default": 0}, (2, 3), [(None, {"dropout": 1}), (True, None)]),
        ({"rate": 0.0}, {"default": 0}, (2, 3), [(False, {"dropout": 1})]),
    ]
    for cfg, streams, shape, steps in configs:
        m = nnx.Dropout(**build_kwargs(cfg), rngs=nnx.Rngs(**streams) if streams else None)
        rec = {"layer": "Dropout", "streams": streams, "config": cfg, "state": state_record(m), "steps": []}
        for det, call_streams in steps:
            x = rand(*shape)
            kw = {}
            if det is not None:
                kw["deterministic"] = det
            call_rngs = nnx.Rngs(**call_streams) if call_streams else None
            if call_rngs is not None:
                kw["rngs"] = call_rngs
            step = {"deterministic": det, "call_streams": call_streams, "x": arr(x), "y": arr(m(x, **kw)),
                    "state": state_record(m)}
            if call_rngs is not None:
                step["call_state"] = state_record(call_rngs)
            rec["steps"].append(step)
        cases.append(rec)
    return cases


def mha():
    cases = []
    # (config, input shape, steps: (deterministic, call streams or None))
    configs = [
        ({"num_heads": 2, "in_features": 4, "dropout_rate": 0.5, "deterministic": False}, (2, 3, 4),
         [(None, {"dropout": 5}), (None, None), (None, {"default": 3}), (True, {"dropout": 1}), (None, None)]),
        ({"num_heads": 2, "in_features": 6, "dropout_rate": 0.3, "broadcast_dropout": False,
          "deterministic": True}, (2, 4, 6),
         [(None, {"dropout": 2}), (False, {"dropout": 2, "default": 9}), (False, None), (None, None)]),
    ]
    for seed, (cfg, shape, steps) in enumerate(configs):
        m = nnx.MultiHeadAttention(**build_kwargs(cfg), decode=False, rngs=nnx.Rngs(seed))
        rec = {"layer": "MultiHeadAttention", "seed": seed, "config": cfg, "state": state_record(m),
               "steps": []}
        for det, call_streams in steps:
            x = rand(*shape)
            kw = {}
            if det is not None:
                kw["deterministic"] = det
            call_rngs = nnx.Rngs(**call_streams) if call_streams else None
            if call_rngs is not None:
                kw["rngs"] = call_rngs
            step = {"deterministic": det, "call_streams": call_streams, "x": arr(x), "y": arr(m(x, **kw)),
                    "state": state_record(m, nnx.RngState)}
            if call_rngs is not None:
                step["call_state"] = state_record(call_rngs)
            rec["steps"].append(step)
        cases.append(rec)
    return cases


def batchnorm():
    cases = []
    # (config, input shape, mask shape or None per step, use_running_average per step)
    configs = [
        ({"num_features": 3}, (6, 3), [((6, 3), None), (None, True), ((6, 1), None), ((6, 3), True)]),
        ({"num_features": 4, "axis": 1, "momentum": 0.9, "use_running_average": True}, (3, 4, 5),
         [((3, 4, 5), False), (None, None), ((3, 1, 5), False), (None, False)]),
        ({"num_features": 3, "use_fast_variance": False, "scale_init": "normal", "bias_init": "uniform"},
         (2, 4, 3), [((2, 4, 3), None), ((4, 1), None), (None, True)]),
    ]
    for seed in (0, 1):
        for cfg, shape, steps in configs:
            m = nnx.BatchNorm(**build_kwargs(cfg), rngs=nnx.Rngs(seed))
            rec = {"layer": "BatchNorm", "seed": seed, "config": cfg, "state": state_record(m), "steps": []}
            for mshape, ura in steps:
                x = rand(*shape, scale=2.0, shift=1.0)
                mask = mask_of(mshape) if mshape else None
                y = m(x, use_running_average=ura, mask=mask)
                step = {"use_running_average": ura, "x": arr(x), "y": arr(y),
                        "state": state_record(m, nnx.BatchStat)}
                if mask is not None:
                    step["mask"] = arr(mask)
                rec["steps"].append(step)
            cases.append(rec)
    return cases


def masked_norms():
    cases = []
    # (layer, config, input shape, mask shapes)
    configs = [
        ("LayerNorm", {"num_features": 4}, (2, 3, 4), [(2, 3, 4), (3, 4)]),
        ("LayerNorm", {"num_features": 4, "reduction_axes": [-2, -1], "use_fast_variance": False,
                       "scale_init": "normal", "bias_init": "normal"}, (2, 3, 4), [(2, 3, 4), (2, 3, 1)]),
        ("RMSNorm", {"num_features": 5, "scale_init": "normal"}, (3, 5), [(3, 5), (5,)]),
        ("RMSNorm", {"num_features": 4, "reduction_axes": [-2, -1]}, (2, 3, 4), [(2, 3, 4)]),
        ("GroupNorm", {"num_features": 6, "num_groups": 2, "scale_init": "normal", "bias_init": "uniform"},
         (2, 3, 6), [(2, 3, 6), (2, 1, 6)]),
        ("GroupNorm", {"num_features": 4, "num_groups": 1, "use_fast_variance": False}, (2, 2, 2, 4),
         [(2, 2, 2, 4)]),
        ("InstanceNorm", {"num_features": 4, "scale_init": "normal"}, (2, 5, 4), [(2, 5, 4), (2, 5, 1)]),
        ("InstanceNorm", {"num_features": 3, "feature_axes": 1}, (2, 3, 5), [(2, 3, 5)]),
    ]
    for seed in (0, 2):
        for name, cfg, shape, mshapes in configs:
            m = getattr(nnx, name)(**build_kwargs(cfg), rngs=nnx.Rngs(seed))
            rec = {"layer": name, "seed": seed, "config": cfg, "state": state_record(m), "steps": []}
            for ms in mshapes:
                x = rand(*shape, scale=1.5, shift=0.5)
                mask = finite_mask(ms, lambda k: m(x, mask=k))
                rec["steps"].append({"x": arr(x), "mask": arr(mask), "y": arr(m(x, mask=mask))})
            cases.append(rec)
    return cases


def group_norm_reference(x, groups, axes, mask, scale, bias, eps, fast):
    """GroupNorm's documented meaning in float64: statistics of each group over
    the reduction axes (without the last) and the group's features."""
    x = np.asarray(x, np.float64)
    nd = x.ndim
    axes = sorted({a % nd for a in axes})
    assert axes[-1] == nd - 1
    g = x.reshape(x.shape[:-1] + (groups, x.shape[-1] // groups))
    red = tuple(axes[:-1]) + (nd,)
    w = np.ones_like(g) if mask is None else np.broadcast_to(mask, x.shape).reshape(g.shape).astype(np.float64)
    n = w.sum(red, keepdims=True)
    mu = (g * w).sum(red, keepdims=True) / n
    if fast:
        var = np.maximum((g * g * w).sum(red, keepdims=True) / n - mu * mu, 0.0)
    else:
        var = (((g - mu) ** 2) * w).sum(red, keepdims=True) / n
    y = ((g - mu) / np.sqrt(var + eps)).reshape(x.shape)
    if scale is not None:
        y = y * np.asarray(scale, np.float64)
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return y.astype(np.float32)


def group_norm_axes():
    cases = []
    # (config, input shape, mask shape or None); Flax's result is what the
    # docstring says when exactly one non-feature axis is not reduced.
    configs = [
        ({"num_features": 6, "num_groups": 3, "reduction_axes": [1, 2, 3]}, (2, 3, 4, 6), None),
        ({"num_features": 6, "num_groups": 3, "reduction_axes": [0, 2, 3], "scale_init": "normal",
          "bias_init": "uniform"}, (2, 3, 4, 6), None),
        ({"num_features": 4, "num_groups": 2, "reduction_axes": [0, -1]}, (3, 5, 4), None),
        ({"num_features": 4, "num_groups": 2, "reduction_axes": [-1]}, (3, 4), None),
        ({"num_features": 6, "num_groups": 2, "reduction_axes": [0, 2, -1], "use_fast_variance": False},
         (4, 2, 3, 6), (4, 2, 3, 6)),
        ({"num_features": 4, "num_groups": 2, "reduction_axes": [-1], "scale_init": "normal"}, (2, 3, 4), None),
        ({"num_features": 6, "num_groups": 3, "reduction_axes": [-2, -1]}, (2, 3, 4, 6), (1, 3, 4, 6)),
        ({"num_features": 4, "num_groups": 2, "reduction_axes": [0, 1, 2]}, (3, 5, 4), None),
    ]
    for seed in (0, 1):
        for cfg, shape, mshape in configs:
            m = nnx.GroupNorm(**build_kwargs(cfg), rngs=nnx.Rngs(seed))
            x = rand(*shape, scale=1.5, shift=0.5)
            ref = lambda k: group_norm_reference(x, m.num_groups, cfg["reduction_axes"], k, None, None, 1.0, True)
            mask = finite_mask(mshape, ref) if mshape else None
            scale = np.asarray(m.scale[...]) if m.scale is not None else None
            bias = np.asarray(m.bias[...]) if m.bias is not None else None
            want = group_norm_reference(x, m.num_groups, cfg["reduction_axes"], mask, scale, bias, m.epsilon,
                                        m.use_fast_variance)
            nd = len(shape)
            kept = [a for a in range(nd - 1) if a not in {r % nd for r in cfg["reduction_axes"]}]
            step = {"x": arr(x), "y": arr(want)}
            try:
                flax_y = np.asarray(m(x, mask=mask))
                step["flax_y"] = arr(flax_y)
            except Exception as e:  # Flax's repeat along a missing axis 1
                step["flax_error"] = type(e).__name__
                flax_y = None
            flax_matches = flax_y is not None and bool(np.allclose(flax_y, want, rtol=1e-4, atol=1e-5))
            assert flax_matches == (len(kept) == 1), (cfg, shape, flax_matches)
            step["flax_matches"] = flax_matches
            if flax_matches:
                step["y"] = arr(flax_y)
            if mask is not None:
                step["mask"] = arr(mask)
            cases.append({"layer": "GroupNorm", "seed": seed, "config": cfg, "state": state_record(m),
                          "steps": [step]})
    return cases


def vjp_case(layer, kind, x, call_kw, **params):
    """gen_grad_norm's layer case (jax.vjp over x and the perturbed Params) of
    `layer(x, **call_kw)`, with the options layer_grads.rs reads and the mask."""
    every = {"use_scale": True, "use_bias": True, "epsilon": float(layer.epsilon)}
    rec = layer_case(layer, x, kind, call_kw, **dict(every, **params))
    if call_kw.get("mask") is not None:
        rec["mask"] = arr(call_kw["mask"])
    return rec


def grad_cases():
    out = []
    rngs = nnx.Rngs(0)
    x2 = rand(6, 8, shift=0.5)
    x3 = rand(2, 5, 6, scale=2.0, shift=1.0)
    for fast in (True, False):
        bn = nnx.BatchNorm(8, use_running_average=True, use_fast_variance=fast, rngs=rngs)
        out.append(vjp_case(bn, "BatchNorm", x2, {"use_running_average": False, "mask": mask_of((6, 8))},
                            use_running_average=True, call_use_running_average=False, fast=fast, axis=-1))
        bn = nnx.BatchNorm(8, use_fast_variance=fast, rngs=rngs)
        bn.mean.set_value(jnp.asarray(rand(8, scale=0.3)))
        bn.var.set_value(jnp.asarray(0.5 + np.abs(rand(8))))
        out.append(vjp_case(bn, "BatchNorm", x2, {"use_running_average": True}, use_running_average=False,
                            call_use_running_average=True, fast=fast, axis=-1, mean=arr(bn.mean.get_value()),
                            var=arr(bn.var.get_value())))
        ln = nnx.LayerNorm(6, reduction_axes=(-2, -1), use_fast_variance=fast, rngs=rngs)
        out.append(vjp_case(ln, "LayerNorm", x3, {"mask": finite_mask((2, 5, 6), lambda k: ln(x3, mask=k))}, reduction_axes=[-2, -1],
                            feature_axes=[-1], fast=fast))
        gn = nnx.GroupNorm(6, num_groups=2, use_fast_variance=fast, rngs=rngs)
        out.append(vjp_case(gn, "GroupNorm", x3, {"mask": finite_mask((2, 1, 6), lambda k: gn(x3, mask=k))}, num_groups=2, fast=fast))
        gn = nnx.GroupNorm(6, num_groups=2, reduction_axes=(0, 2), use_fast_variance=fast, rngs=rngs)
        out.append(vjp_case(gn, "GroupNorm", x3, {"mask": finite_mask((2, 5, 6), lambda k: gn(x3, mask=k))}, num_groups=2, fast=fast,
                            reduction_axes=[0, 2]))
        inorm = nnx.InstanceNorm(6, use_fast_variance=fast, rngs=rngs)
        out.append(vjp_case(inorm, "InstanceNorm", x3, {"mask": finite_mask((2, 5, 6), lambda k: inorm(x3, mask=k))}, feature_axes=[-1],
                            fast=fast))
    rms = nnx.RMSNorm(6, rngs=rngs)
    out.append(vjp_case(rms, "RMSNorm", x3, {"mask": finite_mask((2, 5, 6), lambda k: rms(x3, mask=k))},
                        reduction_axes=[-1], feature_axes=[-1], fast=True, use_bias=False))
    return out


class Model(nnx.Module):
    """Linear -> BatchNorm(mask) -> relu -> Dropout (built deterministic,
    switched on for the call with call-time rngs) -> Linear."""

    def __init__(self, rngs):
        self.linear = nnx.Linear(5, 8, rngs=rngs)
        self.bn = nnx.BatchNorm(8, momentum=0.9, rngs=rngs)
        self.drop = nnx.Dropout(0.25, deterministic=True, rngs=rngs)
        self.out = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x, mask, call_rngs):
        h = nnx.relu(self.bn(self.linear(x), mask=mask))
        return self.out(self.drop(h, deterministic=False, rngs=call_rngs))


def model_case():
    model = Model(nnx.Rngs(params=0, dropout=1))
    x = rand(7, 5)
    labels = np.array([0, 2, 1, 1, 0, 2, 1], np.int32)
    mask = np.ones((7, 1), bool)
    mask[5:] = False
    call_rngs = nnx.Rngs(dropout=3)
    flat = lambda s: {"/".join(map(str, p)): arr(v.get_value()) for p, v in s.flat_state()}
    before = flat(nnx.state(model, nnx.Param))

    # The call's Rngs is an argument (not captured) so that its count may advance.
    def loss_fn(m, r):
        return optax.softmax_cross_entropy_with_integer_labels(m(x, mask, r), labels).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model, call_rngs)
    return {"x": arr(x), "labels": arr(labels), "mask": arr(mask), "params": before, "loss": float(loss),
            "grads": flat(grads), "batch_stats": flat(nnx.state(model, nnx.BatchStat)),
            "model_rngs": state_record(model.drop), "call_rngs": state_record(call_rngs)}


def main():
    data = {"flax_version": __import__("flax").__version__,
            "cases": dropout() + batchnorm() + masked_norms() + group_norm_axes(),
            "grads": grad_cases(), "model": model_case(), "mha": mha()}
    with open(OUT, "w") as f:
        json.dump(data, f, separators=(",", ":"), allow_nan=False)
    print(OUT, os.path.getsize(OUT), "bytes,", len(data["cases"]), "cases,", len(data["grads"]), "grads")


if __name__ == "__main__":
    main()
