"""Writes reference data for the f64 layers (Flax's `param_dtype=dtype=jnp.float64`).

With `jax_enable_x64`, builds each layer in real Flax NNX from `nnx.Rngs(seed)`
with `param_dtype=jnp.float64, dtype=jnp.float64`, and records its parameters
(exactly: the IEEE bit patterns of the doubles), a forward output on a random
f64 input, and the gradients of `sum(layer(x) * cotangent)` with respect to
every Param (`nnx.value_and_grad`), plus the batch statistics after a training
step where the layer has them. Output: nnx-layers/tests/data/layers/f64.json.

The layer families (`families`: LoRA with and without a base module,
LoRALinear, WeightNorm, SpectralNorm) record their Params and BatchStats at
construction, after a first call (WeightNorm and SpectralNorm write the
normalized kernel back, SpectralNorm updates `u` and `sigma`), and the
gradients of a fresh copy; values the test assigns after construction (a LoRA's
`lora_b`, zeros at init) are stored under `set`. Flax's LoRALinear does not pass
`param_dtype` to its LoRA, whose parameters stay float32 (stored with their
dtype; nnx's `LoRALinear<f64>` holds them in f64).

The recurrent cells, RNN (reverse, keep_order, return_carry, seq_lengths,
time_major) and Bidirectional (concatenation and a sum as merge functions)
record (`recurrent`) their Params, the leaves of a call's result and the
gradients of `sum(leaf * cotangent)`.
Run with the Flax environment's python:

    python tools/flax_reference/gen_layers_f64.py
"""

import json
import os

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_default_matmul_precision", "highest")

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

RNG = np.random.default_rng(20261129)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "nnx-layers", "tests", "data", "layers", "f64.json")
F64 = dict(param_dtype=jnp.float64, dtype=jnp.float64)


def bits(x):
    """An f64 array exactly: shape, the u64 bit pattern of each element, and
    the dtype Flax holds it in (BatchNorm's running statistics start as float32
    zeros and ones, exact in f64)."""
    x = np.asarray(x)
    assert x.dtype in (np.float64, np.float32), x.dtype
    dtype = str(x.dtype)
    x = x.astype(np.float64)
    return {"shape": list(x.shape), "dtype": dtype, "bits": [int(b) for b in x.ravel().view(np.uint64)]}


def flat(state):
    """The float arrays of `state` by path (Dropout's RNG key and count are not)."""
    out = {}
    for path, v in nnx.to_flat_state(state):
        value = v.get_value()
        if jnp.issubdtype(value.dtype, jnp.floating):
            out["/".join(str(p) for p in path)] = value
    return out


def case(name, seed, config, build, x_shape, call=lambda m, x: m(x), x=None):
    model = build(nnx.Rngs(seed))
    params = {k: bits(v) for k, v in flat(nnx.state(model)).items()}
    x = RNG.standard_normal(x_shape) if x is None else x
    y = call(model, jnp.asarray(x))
    assert y.dtype == jnp.float64, (name, y.dtype)
    cot = RNG.standard_normal(y.shape)

    def loss(m):
        return jnp.sum(call(m, jnp.asarray(x)) * cot)

    value, grads = nnx.value_and_grad(loss, argnums=0)(model)
    out = {
        "layer": name,
        "seed": seed,
        "config": config,
        "params": params,
        "input": bits(x),
        "output": bits(y),
        "cotangent": bits(cot),
        "loss": bits(np.asarray(value)),
        "grads": {k: bits(v) for k, v in flat(grads).items()},
    }
    stats = flat(nnx.state(model, nnx.BatchStat))
    if stats:
        out["batch_stats_after"] = {k: bits(v) for k, v in stats.items()}
    return out


def vars_of(model, kind):
    """The Variables of type `kind` (subtypes included) by path, as bits."""
    return {"/".join(str(p) for p in path): bits(v.get_value())
            for path, v in nnx.to_flat_state(nnx.state(model, kind))}


def family_case(name, config, make, x_shape, set_values=None):
    """`make()` builds the model; `set_values(model)` assigns values after
    construction and returns them by path."""
    x = RNG.standard_normal(x_shape)
    model = make()
    init = {"params": vars_of(model, nnx.Param), "stats": vars_of(model, nnx.BatchStat)}
    values = {k: np.asarray(v) for k, v in (set_values(model) if set_values else {}).items()}
    y = model(jnp.asarray(x))
    assert y.dtype == jnp.float64, (name, y.dtype)
    after = {"params": vars_of(model, nnx.Param), "stats": vars_of(model, nnx.BatchStat)}
    cot = RNG.standard_normal(y.shape)
    fresh = make()
    if set_values:
        set_values(fresh, values)
    value, grads = nnx.value_and_grad(lambda m: jnp.sum(m(jnp.asarray(x)) * cot))(fresh)
    return {
        "layer": name, "config": config, "init": init,
        "set": {k: bits(v) for k, v in values.items()},
        "input": bits(x), "output": bits(y), "after": after, "cotangent": bits(cot),
        "loss": bits(np.asarray(value)),
        "grads": {"/".join(str(p) for p in path): bits(v.get_value())
                  for path, v in nnx.to_flat_state(grads)},
        "after_grad": {"params": vars_of(fresh, nnx.Param), "stats": vars_of(fresh, nnx.BatchStat)},
    }


def lora_b_setter(path):
    """Sets the LoRA's `lora_b` (at `path`, zeros at init) to random values
    (drawn once, then reused for the fresh copy)."""
    def set_values(m, values=None):
        owner = m
        for part in path[:-1]:
            owner = getattr(owner, part)
        var = getattr(owner, path[-1])
        v = values["/".join(path)] if values else RNG.standard_normal(var.shape).astype(var.dtype)
        var[...] = jnp.asarray(v)
        return {"/".join(path): v}
    return set_values


def families():
    lin = lambda seed: nnx.Linear(3, 4, rngs=nnx.Rngs(seed), **F64)  # noqa: E731
    cases = [
        family_case("LoRA", {"in": 3, "rank": 2, "out": 4, "seed": 0},
                    lambda: nnx.LoRA(3, 2, 4, rngs=nnx.Rngs(0), param_dtype=jnp.float64, dtype=jnp.float64),
                    (5, 3), lora_b_setter(["lora_b"])),
        family_case("LoRABase", {"in": 3, "rank": 2, "out": 4, "seed": 1, "base_seed": 0},
                    lambda: nnx.LoRA(3, 2, 4, base_module=lin(0), rngs=nnx.Rngs(1),
                                     param_dtype=jnp.float64, dtype=jnp.float64),
                    (5, 3), lora_b_setter(["lora_b"])),
        family_case("LoRALinear", {"in": 3, "out": 4, "rank": 2, "seed": 2},
                    lambda: nnx.LoRALinear(3, 4, lora_rank=2, rngs=nnx.Rngs(2), **F64),
                    (2, 5, 3), lora_b_setter(["lora", "lora_b"])),
    ]
    for name, kw in [("WeightNorm", {}), ("WeightNormNoFeatureAxes", {"feature_axes": None}),
                     ("WeightNormNoScale", {"use_scale": False})]:
        cfg = {"feature_axes": [] if "feature_axes" in kw else [-1], "use_scale": kw.get("use_scale", True)}
        cases.append(family_case(name, cfg, lambda kw=kw: nnx.WeightNorm(lin(0), rngs=nnx.Rngs(1), **kw, **F64),
                                 (5, 3)))
    for name, kw in [("SpectralNorm", {}), ("SpectralNormSteps3", {"n_steps": 3}),
                     ("SpectralNormFrozen", {"update_stats": False})]:
        cfg = {"n_steps": kw.get("n_steps", 1), "update_stats": kw.get("update_stats", True)}
        cases.append(family_case(name, cfg,
                                 lambda kw=kw: nnx.SpectralNorm(lin(0), rngs=nnx.Rngs(1), **kw, **F64),
                                 (5, 3)))
    return cases


CELLS = {"SimpleCell": nnx.SimpleCell, "LSTMCell": nnx.LSTMCell,
         "OptimizedLSTMCell": nnx.OptimizedLSTMCell, "GRUCell": nnx.GRUCell}


def recurrent_case(name, config, make, call, x, extra=None):
    """Params at construction, the call's outputs (the leaves of what it
    returns: carry arrays first when it returns one), and the gradients of
    `sum(leaf * cotangent)` over them on a fresh copy."""
    model = make()
    params = vars_of(model, nnx.Param)
    leaves = jax.tree.leaves(call(model, jnp.asarray(x)))
    assert all(l.dtype == jnp.float64 for l in leaves), name
    cots = [RNG.standard_normal(np.shape(l)) for l in leaves]

    def loss(m):
        return sum(jnp.sum(l * c) for l, c in zip(jax.tree.leaves(call(m, jnp.asarray(x))), cots))

    value, grads = nnx.value_and_grad(loss)(make())
    return {"layer": name, "config": config, "params": params, "input": bits(x),
            "outputs": [bits(l) for l in leaves], "cotangents": [bits(c) for c in cots],
            "loss": bits(np.asarray(value)),
            "grads": {"/".join(str(p) for p in path): bits(v.get_value())
                      for path, v in nnx.to_flat_state(grads)}, **(extra or {})}


def recurrent():
    cases = []
    for seed, (name, cls) in enumerate(CELLS.items()):
        make = lambda cls=cls, seed=seed: cls(3, 4, rngs=nnx.Rngs(seed), **F64)  # noqa: E731
        zero = make().initialize_carry((2, 3), nnx.Rngs(0))
        assert all(c.dtype == jnp.float64 for c in jax.tree.leaves(zero)), name
        carry = jax.tree.map(lambda c: jnp.asarray(RNG.standard_normal(c.shape)), zero)
        cases.append(recurrent_case(name, {"seed": seed}, make, lambda m, x, carry=carry: m(carry, x),
                                    RNG.standard_normal((2, 3)),
                                    {"carry": [bits(c) for c in jax.tree.leaves(carry)]}))
    x = RNG.standard_normal((2, 5, 3))
    lengths = [5, 3]
    configs = [
        ("LSTMCell", {}, False),
        ("OptimizedLSTMCell", {"reverse": True}, False),
        ("GRUCell", {"time_major": True}, False),
        ("GRUCell", {"reverse": True, "keep_order": True}, False),
        ("LSTMCell", {"return_carry": True, "reverse": True, "keep_order": True}, True),
        ("GRUCell", {"return_carry": True, "time_major": True}, True),
        ("SimpleCell", {"return_carry": True, "reverse": True}, True),
    ]
    for seed, (cell, cfg, with_lengths) in enumerate(configs, start=10):
        xi = np.swapaxes(x, 0, 1) if cfg.get("time_major") else x
        kw = {"seq_lengths": jnp.asarray(lengths)} if with_lengths else {}
        make = lambda cell=cell, seed=seed, cfg=cfg: nnx.RNN(CELLS[cell](3, 4, rngs=nnx.Rngs(seed), **F64), **cfg)  # noqa: E731
        cases.append(recurrent_case("RNN", {"cell": cell, "seed": seed, **cfg,
                                            "seq_lengths": lengths if with_lengths else None},
                                    make, lambda m, x, kw=kw: m(x, **kw), xi))
    for merge, with_lengths in [("concat", False), ("add", True)]:
        hidden_b = 2 if merge == "concat" else 4
        kw = {"seq_lengths": jnp.asarray([4, 5])} if with_lengths else {}
        extra = {} if merge == "concat" else {"merge_fn": lambda a, b: a + b}
        make = lambda hidden_b=hidden_b, extra=extra: nnx.Bidirectional(  # noqa: E731
            nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(20), **F64)),
            nnx.RNN(nnx.GRUCell(3, hidden_b, rngs=nnx.Rngs(21), **F64)), return_carry=True, **extra)
        cases.append(recurrent_case("Bidirectional", {"merge": merge, "hidden_backward": hidden_b,
                                                      "seq_lengths": [4, 5] if with_lengths else None},
                                    make, lambda m, x, kw=kw: m(x, **kw), x))
    return cases


def main():
    cases = [
        case("Linear", 0, {"in": 3, "out": 4}, lambda r: nnx.Linear(3, 4, rngs=r, **F64), (2, 3)),
        case("LinearNoBias", 1, {"in": 5, "out": 2},
             lambda r: nnx.Linear(5, 2, use_bias=False, rngs=r, **F64), (3, 5)),
        case("LayerNorm", 2, {"features": 6}, lambda r: nnx.LayerNorm(6, rngs=r, **F64), (3, 6)),
        case("RMSNorm", 3, {"features": 6}, lambda r: nnx.RMSNorm(6, rngs=r, **F64), (3, 6)),
        case("GroupNorm", 4, {"features": 6, "groups": 3},
             lambda r: nnx.GroupNorm(6, num_groups=3, rngs=r, **F64), (2, 4, 6)),
        case("InstanceNorm", 5, {"features": 3}, lambda r: nnx.InstanceNorm(3, rngs=r, **F64), (2, 5, 3)),
        case("BatchNorm", 6, {"features": 4},
             lambda r: nnx.BatchNorm(4, use_running_average=False, rngs=r, **F64), (5, 4)),
    ]
    cases += [
        case("LinearGeneral", 7, {"in": 3, "out": [2, 4]},
             lambda r: nnx.LinearGeneral(3, (2, 4), rngs=r, **F64), (5, 3)),
        case("Einsum", 8, {"eq": "ab,bc->ac", "kernel": [3, 4], "bias": [4]},
             lambda r: nnx.Einsum("ab,bc->ac", (3, 4), (4,), rngs=r, **F64), (2, 3)),
        # Indices as whole f64 numbers (the Rust entry's convention for floats).
        case("Embed", 9, {"num": 10, "features": 4}, lambda r: nnx.Embed(10, 4, rngs=r, **F64), None,
             call=lambda m, x: m(x.astype(jnp.int32)), x=np.array([[1.0, 7.0, 3.0], [0.0, 9.0, 7.0]])),
        case("PReLU", 10, {}, lambda r: nnx.PReLU(param_dtype=jnp.float64), (3, 4)),
        # With x64, the keep mask comes from f64 uniforms (not the x32 mask).
        case("Dropout", 11, {"rate": 0.5}, lambda r: nnx.Dropout(0.5, rngs=r), (4, 6)),
    ]
    cases += [
        case("Conv", 12, {"in": 2, "out": 3, "kernel": [3, 3]},
             lambda r: nnx.Conv(2, 3, (3, 3), rngs=r, **F64), (2, 6, 5, 2)),
        case("ConvTranspose", 13, {"in": 2, "out": 3, "kernel": [3]},
             lambda r: nnx.ConvTranspose(2, 3, (3,), rngs=r, **F64), (2, 5, 2)),
    ]
    # Without dropout or sown weights, Flax's MultiHeadAttention calls
    # jax.nn.dot_product_attention, whose XLA path rounds the logits to float32
    # for the softmax even for float64 inputs (its outputs are then only about
    # 1e-8 from the float64 result). Calling with `sow_weights=True` takes
    # Flax's own path, in float64 throughout, which is what nnx computes.
    mha = dict(decode=False, **F64)
    sown = dict(call=lambda m, x: m(x, sow_weights=True))
    cases += [
        case("MultiHeadAttention", 14, {"heads": 2, "in": 4},
             lambda r: nnx.MultiHeadAttention(2, 4, rngs=r, **mha), (2, 3, 4), **sown),
        case("MultiHeadAttentionNormQK", 15, {"heads": 2, "in": 4},
             lambda r: nnx.MultiHeadAttention(2, 4, normalize_qk=True, rngs=r, **mha), (2, 3, 4),
             **sown),
    ]
    with open(OUT, "w") as f:
        json.dump({"jax": jax.__version__, "flax": nnx.__name__ and __import__("flax").__version__,
                   "cases": cases, "families": families(),
                   "recurrent": recurrent()}, f)
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
