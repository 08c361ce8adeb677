"""Writes reference data for Flax NNX's remaining layer families.

LoRA / LoRALinear, the recurrent cells (SimpleCell, LSTMCell, OptimizedLSTMCell,
GRUCell), RNN and Bidirectional, WeightNorm, SpectralNorm, and capture /
perturb, built in real Flax NNX from `nnx.Rngs(seed)`. Each case records every
Variable as initialized (path, type, values), forward outputs on fixed random
inputs, the state after the call (Flax's WeightNorm and SpectralNorm write the
normalized kernel back into the wrapped layer; SpectralNorm updates its power
iteration state), and `nnx.value_and_grad` gradients of `sum(output * cot)`
for a fixed random cotangent `cot`. JSON under nnx-layers/tests/data/families/.
Run with the Flax environment's python:

    python tools/flax_reference/gen_families.py
"""

import json
import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from reference_json import arr

warnings.simplefilter("ignore")
jax.config.update("jax_default_matmul_precision", "highest")
RNG = np.random.default_rng(20261129)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "nnx-layers", "tests", "data", "families")


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def path_key(path):
    return "/".join(str(p) for p in path)


def state_of(module, *filters):
    """Every leaf of `nnx.state(module, *filters)` by '/'-joined path."""
    out = {}
    for path, var in nnx.to_flat_state(nnx.state(module, *filters)):
        if isinstance(var, nnx.RngKey):
            out[path_key(path)] = {"type": "RngKey", **arr(jax.random.key_data(var.get_value()))}
        elif isinstance(var, nnx.Variable):
            out[path_key(path)] = {"type": type(var).__name__, **arr(var.get_value())}
        else:
            out[path_key(path)] = {"type": "Array", **arr(var)}
    return out


def grads_of(grads):
    return {path_key(p): arr(v.get_value() if isinstance(v, nnx.Variable) else v)
            for p, v in nnx.to_flat_state(grads)}


def weighted(out, cots):
    """sum(leaf * cot) over the leaves of `out` (a tree of arrays)."""
    leaves = jax.tree.leaves(out)
    return sum(jnp.sum(l * c) for l, c in zip(leaves, cots))


def cotangents(out):
    return [rand(*np.shape(l)) for l in jax.tree.leaves(out)]


# ----------------------------------------------------------------------- LoRA


def lora_cases():
    cases = []
    x = rand(5, 3)

    # Standalone LoRA: lora_b is zeros at init, so give it values before the
    # forward (otherwise the output would be all zeros).
    m = nnx.LoRA(3, 2, 4, rngs=nnx.Rngs(0))
    init = state_of(m)
    m.lora_b[...] = jnp.asarray(rand(2, 4))
    y = m(x)
    cot = cotangents(y)
    loss, g = nnx.value_and_grad(lambda m: weighted(m(x), cot))(m)
    cases.append({"name": "lora", "seed": 0, "init": init, "state": state_of(m), "x": arr(x),
                  "y": arr(y), "cot": arr(cot[0]), "loss": float(loss), "grads": grads_of(g)})

    # LoRA over a base Linear; gradients only for the LoRA parameters.
    base = nnx.Linear(3, 4, rngs=nnx.Rngs(0))
    m = nnx.LoRA(3, 2, 4, base_module=base, rngs=nnx.Rngs(1))
    init = state_of(m)
    m.lora_b[...] = jnp.asarray(rand(2, 4))
    y = m(x)
    loss, g = nnx.value_and_grad(lambda m: weighted(m(x), cot),
                                 argnums=nnx.DiffState(0, nnx.LoRAParam))(m)
    cases.append({"name": "lora_base", "seed": 1, "base_seed": 0, "init": init, "state": state_of(m),
                  "x": arr(x), "y": arr(y), "cot": arr(cot[0]), "loss": float(loss),
                  "grads": grads_of(g)})

    # LoRALinear: the Linear's kernel and bias first, then lora_a, lora_b.
    m = nnx.LoRALinear(3, 4, lora_rank=2, rngs=nnx.Rngs(0))
    init = state_of(m)
    m.lora.lora_b[...] = jnp.asarray(rand(2, 4))
    m.bias[...] = jnp.asarray(rand(4))
    y = m(x)
    loss, g = nnx.value_and_grad(lambda m: weighted(m(x), cot))(m)
    cases.append({"name": "lora_linear", "seed": 0, "init": init, "state": state_of(m),
                  "x": arr(x), "y": arr(y), "cot": arr(cot[0]), "loss": float(loss),
                  "grads": grads_of(g)})

    # Training only the LoRA parameters of a LoRALinear with adam (wrt=LoRAParam).
    m = nnx.LoRALinear(3, 4, lora_rank=2, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(m, optax.adam(0.05), wrt=nnx.LoRAParam)
    target = rand(5, 4)
    losses = []
    for _ in range(4):
        loss, g = nnx.value_and_grad(lambda m: jnp.mean((m(x) - target) ** 2),
                                     argnums=nnx.DiffState(0, nnx.LoRAParam))(m)
        opt.update(m, g)
        losses.append(float(loss))
    cases.append({"name": "lora_train", "seed": 0, "x": arr(x), "target": arr(target), "lr": 0.05,
                  "losses": losses, "state": state_of(m)})
    return cases


# ------------------------------------------------------------------ recurrent

CELLS = {
    "SimpleCell": nnx.SimpleCell,
    "LSTMCell": nnx.LSTMCell,
    "OptimizedLSTMCell": nnx.OptimizedLSTMCell,
    "GRUCell": nnx.GRUCell,
}


def cell_cases():
    cases = []
    for seed, (name, cls) in enumerate(CELLS.items()):
        cell = cls(3, 4, rngs=nnx.Rngs(seed))
        init = state_of(cell)
        x = rand(2, 3)
        zero = cell.initialize_carry((2, 3), nnx.Rngs(0))
        carry = jax.tree.map(lambda c: jnp.asarray(rand(*c.shape)), zero)
        new_carry, y = cell(carry, x)
        cot = cotangents((new_carry, y))
        loss, g = nnx.value_and_grad(lambda c: weighted(c(carry, x), cot))(cell)
        # Gradient with respect to the inputs and the carry too.
        gx, gc = jax.grad(lambda x, c: weighted(cell(c, x), cot), argnums=(0, 1))(x, carry)
        cases.append({
            "cell": name, "seed": seed, "in_features": 3, "hidden_features": 4, "init": init,
            "x": arr(x), "carry": [arr(c) for c in jax.tree.leaves(carry)],
            "zero_carry": [arr(c) for c in jax.tree.leaves(zero)],
            "new_carry": [arr(c) for c in jax.tree.leaves(new_carry)], "y": arr(y),
            "cots": [arr(c) for c in cot], "loss": float(loss), "grads": grads_of(g),
            "grad_x": arr(gx), "grad_carry": [arr(c) for c in jax.tree.leaves(gc)],
        })
    return cases


def rnn_cases():
    cases = []
    x = rand(2, 5, 3)
    lengths = np.array([5, 3], dtype=np.int32)
    configs = [
        ("LSTMCell", {}, False),
        ("OptimizedLSTMCell", {}, False),
        ("SimpleCell", {}, False),
        ("GRUCell", {}, False),
        ("GRUCell", {"time_major": True}, False),
        ("GRUCell", {"reverse": True}, False),
        ("GRUCell", {"reverse": True, "keep_order": True}, False),
        ("LSTMCell", {"return_carry": True}, True),
        ("LSTMCell", {"return_carry": True, "reverse": True, "keep_order": True}, True),
        ("GRUCell", {"return_carry": True, "time_major": True}, True),
        ("SimpleCell", {"reverse": True, "keep_order": True}, True),
        ("SimpleCell", {"reverse": True}, True),
    ]
    for seed, (name, cfg, with_lengths) in enumerate(configs):
        cell = CELLS[name](3, 4, rngs=nnx.Rngs(seed))
        rnn = nnx.RNN(cell, **cfg)
        init = state_of(rnn)
        xi = np.swapaxes(x, 0, 1) if cfg.get("time_major") else x
        kw = {"seq_lengths": jnp.asarray(lengths)} if with_lengths else {}
        out = rnn(xi, **kw)
        after = state_of(rnn)
        cot = cotangents(out)
        rnn2 = nnx.RNN(CELLS[name](3, 4, rngs=nnx.Rngs(seed)), **cfg)
        loss, g = nnx.value_and_grad(lambda r: weighted(r(xi, **kw), cot))(rnn2)
        carry, ys = out if cfg.get("return_carry") else (None, out)
        cases.append({
            "cell": name, "seed": seed, "config": cfg, "init": init, "after": after, "x": arr(xi),
            "seq_lengths": arr(lengths) if with_lengths else None,
            "carry": None if carry is None else [arr(c) for c in jax.tree.leaves(carry)],
            "y": arr(ys), "cots": [arr(c) for c in cot], "loss": float(loss), "grads": grads_of(g),
        })
    return cases


def bidirectional_cases():
    cases = []
    x = rand(2, 5, 3)
    lengths = np.array([4, 5], dtype=np.int32)
    for with_lengths in [False, True]:
        fwd = nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0)))
        bwd = nnx.RNN(nnx.GRUCell(3, 2, rngs=nnx.Rngs(1)))
        bi = nnx.Bidirectional(fwd, bwd, return_carry=True)
        init = state_of(bi)
        kw = {"seq_lengths": jnp.asarray(lengths)} if with_lengths else {}
        (cf, cb), ys = bi(x, **kw)
        after = state_of(bi)
        cot = cotangents(ys)
        bi2 = nnx.Bidirectional(nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0))),
                                nnx.RNN(nnx.GRUCell(3, 2, rngs=nnx.Rngs(1))))
        loss, g = nnx.value_and_grad(lambda b: weighted(b(x, **kw), cot))(bi2)
        cases.append({
            "seq_lengths": arr(lengths) if with_lengths else None, "init": init, "after": after,
            "x": arr(x), "carry_forward": [arr(c) for c in jax.tree.leaves(cf)],
            "carry_backward": [arr(c) for c in jax.tree.leaves(cb)], "y": arr(ys),
            "cots": [arr(c) for c in cot], "loss": float(loss), "grads": grads_of(g),
        })
    return cases


# -------------------------------------------------------- weight normalization


def weight_norm_cases():
    cases = []
    x = rand(5, 3)
    for name, kw, scales in [
        ("default", {}, None),
        ("scales", {}, rand(4)),
        ("no_feature_axes", {"feature_axes": None}, rand()),
        ("no_scale", {"use_scale": False}, None),
    ]:
        def make():
            w = nnx.WeightNorm(nnx.Linear(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1), **kw)
            w.layer_instance.bias[...] = jnp.asarray(bias)
            if scales is not None:
                w.scales[("kernel",)] = jnp.asarray(scales)
            return w
        bias = rand(4)
        w = make()
        init = state_of(w)
        y = w(x)
        after = state_of(w)
        y2 = w(x)
        cot = cotangents(y)
        w = make()
        loss, g = nnx.value_and_grad(lambda w: weighted(w(x), cot))(w)
        cases.append({"name": name, "config": {k: v for k, v in kw.items()}, "init": init,
                      "x": arr(x), "y": arr(y), "after": after, "y_again": arr(y2),
                      "cot": arr(cot[0]), "loss": float(loss), "grads": grads_of(g),
                      "after_grad": state_of(w)})
    return cases


def spectral_norm_cases():
    cases = []
    x = rand(5, 3)
    for name, kw in [("default", {}), ("n_steps_3", {"n_steps": 3}), ("frozen", {"update_stats": False})]:
        bias = rand(4)

        def make():
            s = nnx.SpectralNorm(nnx.Linear(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1), **kw)
            s.layer_instance.bias[...] = jnp.asarray(bias)
            return s
        s = make()
        init = state_of(s)
        y = s(x)
        after = state_of(s)
        y2 = s(x)
        after2 = state_of(s)
        cot = cotangents(y)
        s = make()
        loss, g = nnx.value_and_grad(lambda s: weighted(s(x), cot))(s)
        cases.append({"name": name, "config": kw, "init": init, "x": arr(x), "y": arr(y),
                      "after": after, "y_again": arr(y2), "after_again": after2,
                      "cot": arr(cot[0]), "loss": float(loss), "grads": grads_of(g),
                      "after_grad": state_of(s)})
    return cases


# ---------------------------------------------------------- capture / perturb


class Block(nnx.Module):
    def __init__(self, rngs):
        self.w = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (3, 4)))

    def __call__(self, x):
        h = jnp.tanh(x @ self.w[...])
        h = self.perturb("h", h)
        self.sow(nnx.Intermediate, "h_out", h)
        return h


class Net(nnx.Module):
    def __init__(self, rngs):
        self.block = Block(rngs)
        self.w = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (4, 2)))

    def __call__(self, x):
        h = self.block(x)
        y = h @ self.w[...]
        y = self.perturb("y", y)
        self.sow(nnx.Intermediate, "y_out", y)
        self.sow(nnx.Intermediate, "y_out", 2.0 * y)
        return y


def capture_cases():
    x = rand(2, 3)
    model = Net(nnx.Rngs(0))
    init = state_of(model)
    y, inters = nnx.capture(model, nnx.Intermediate)(x)
    _, perts = nnx.capture(model, nnx.Perturbation)(x)
    cot = rand(2, 2)

    def loss(model, perts, x):
        y, sowed = nnx.capture(model, nnx.Intermediate, init=perts)(x)
        return jnp.sum(y * cot), sowed

    (l, sowed), (g, pg) = nnx.value_and_grad(loss, argnums=(0, 1), has_aux=True)(model, perts, x)

    def flat(st):
        return {path_key(p): {"type": type(v).__name__,
                              "values": [arr(t) for t in (v.get_value() if isinstance(v.get_value(), tuple)
                                                          else (v.get_value(),))]}
                for p, v in nnx.to_flat_state(st)}

    return [{"name": "capture_perturb", "seed": 0, "init": init, "x": arr(x), "y": arr(y),
             "intermediates": flat(inters), "perturbations": flat(perts), "cot": arr(cot),
             "loss": float(l), "grads": grads_of(g), "perturbation_grads": grads_of(pg)}]


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {
        "lora.json": lora_cases(),
        "cells.json": cell_cases(),
        "rnn.json": rnn_cases(),
        "bidirectional.json": bidirectional_cases(),
        "weight_norm.json": weight_norm_cases(),
        "spectral_norm.json": spectral_norm_cases(),
        "capture.json": capture_cases(),
    }
    for name, cases in files.items():
        with open(os.path.join(OUT, name), "w") as f:
            json.dump({"flax": __import__("flax").__version__, "cases": cases}, f)
        print(name, len(cases))


if __name__ == "__main__":
    main()
