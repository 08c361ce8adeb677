"""optax reference data in float64 for nnx-optim's f64 conformance tests.

Under `jax_enable_x64`, every transformation of gen_optax_reference.py's CASES
runs on float64 parameters and gradients (the state then holds float64 mu/nu,
int32 counts, and hyperparameters and schedules are computed in float64); its
schedules are recorded as optax computes them under x64 (float64, or float32
widened exactly for those whose int32 count JAX divides in float32); and a short Flax NNX training run of a
float64 MLP (value_and_grad + nnx.Optimizer with clipping and adamw under a
warmup-cosine schedule) records the loss of every step and the final
parameters. Every float is stored exactly, as its u64 bit pattern. Output:
nnx-optim/tests/data/optax_f64.json (run from the repository root).
"""

import json

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

from gen_optax_reference import CASES, SCHEDULE_STEPS, SCHEDULES, STEPS, run  # noqa: E402

rng = np.random.default_rng(64)
PARAMS = {"bias": rng.normal(size=(3,)), "kernel": rng.normal(size=(2, 3))}
GRADS = [
    {k: rng.normal(size=v.shape) * (0.2 + 1.5 * (i % 3)) for k, v in PARAMS.items()}
    for i in range(STEPS)
]
GRADS[2]["bias"][1] = 0.0


def bits(x):
    """A float64 array exactly: shape and the u64 bit pattern of each element."""
    x = np.asarray(x)
    assert x.dtype == np.float64, x.dtype
    return {"shape": list(x.shape), "bits": [int(b) for b in x.ravel().view(np.uint64)]}


F64 = dict(param_dtype=jnp.float64, dtype=jnp.float64)


class Mlp(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(4, 16, rngs=rngs, **F64)
        self.l2 = nnx.Linear(16, 3, rngs=rngs, **F64)

    def __call__(self, x):
        return self.l2(nnx.relu(self.l1(x)))


def flat(state):
    return {"/".join(map(str, p)): v.get_value() for p, v in nnx.to_flat_state(state)}


def training():
    """A float64 MLP trained 12 steps by nnx.value_and_grad and nnx.Optimizer
    (clip_by_global_norm, then adamw with a warmup-cosine schedule)."""
    r = np.random.default_rng(65)
    model = Mlp(nnx.Rngs(0))
    initial = {k: bits(v) for k, v in flat(nnx.state(model, nnx.Param)).items()}
    lr = optax.warmup_cosine_decay_schedule(0.0, 3e-2, 4, 12, 1e-3)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(lr, weight_decay=1e-2))
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)

    def loss_fn(m, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    batches, losses = [], []
    for _ in range(12):
        x = r.normal(size=(8, 4))
        y = (np.abs(x[:, 0] + x[:, 1] * x[:, 2]) * 1.2).astype(np.int32).clip(0, 2)
        loss, grads = nnx.value_and_grad(loss_fn)(model, jnp.asarray(x), jnp.asarray(y))
        opt.update(model, grads)
        batches.append({"x": bits(x), "y": [int(v) for v in y]})
        losses.append(bits(np.asarray(loss)))
    mu = flat(opt.opt_state[1][0].mu)
    return {
        "initial": initial,
        "batches": batches,
        "losses": losses,
        "final": {k: bits(v) for k, v in flat(nnx.state(model, nnx.Param)).items()},
        "final_mu": {k: bits(v) for k, v in mu.items()},
        "step": int(opt.step.get_value()),
    }


def main():
    data = {
        "params": {k: bits(v) for k, v in PARAMS.items()},
        "grads": [{k: bits(v) for k, v in g.items()} for g in GRADS],
        "cases": {name: run(tx, PARAMS, GRADS, bits) for name, tx in CASES.items()},
        "schedule_steps": SCHEDULE_STEPS,
        "schedules": {
            # Widened exactly where optax's x64 value is float32 (polynomial,
            # exponential, and joins with those).
            name: bits(np.array([np.float64(s(jnp.asarray(i, jnp.int32))) for i in SCHEDULE_STEPS]))
            for name, s in SCHEDULES.items()
        },
        "training": training(),
    }
    with open("nnx-optim/tests/data/optax_f64.json", "w") as f:
        json.dump(data, f)
        f.write("\n")


if __name__ == "__main__":
    main()
