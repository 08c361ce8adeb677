"""optax reference data for nnx-optim's conformance tests.

Each case applies one optax transformation (an alias, or a chain with clipping
and schedules) to fixed parameters and a fixed sequence of gradients and records
the parameters after every step; schedules are recorded at many steps. Output:
nnx-optim/tests/data/optax_reference.json (run from the repository root).
"""

import json

import numpy as np
import optax
import jax
import jax.numpy as jnp
from flax import nnx

from reference_json import arr

STEPS = 8
rng = np.random.default_rng(0)
PARAMS = {
    "bias": rng.normal(size=(3,)).astype(np.float32),
    "kernel": rng.normal(size=(2, 3)).astype(np.float32),
}
# Gradients of mixed sizes so that global-norm clipping triggers on some steps.
GRADS = [
    {k: (rng.normal(size=v.shape) * (0.2 + 1.5 * (i % 3))).astype(np.float32) for k, v in PARAMS.items()}
    for i in range(STEPS)
]
# One gradient entry exactly zero, to exercise sign(0) and zero norms.
GRADS[2]["bias"][1] = 0.0


def kernel_only(params):
    return {k: k == "kernel" for k in params}


SCHEDULES = {
    "constant": optax.constant_schedule(0.3),
    "linear": optax.linear_schedule(1.0, 0.1, 50, 10),
    "polynomial": optax.polynomial_schedule(1.0, 0.01, 2.0, 80, 5),
    "polynomial_frac_power": optax.polynomial_schedule(0.5, 0.0, 0.7, 60),
    "exponential": optax.exponential_decay(0.1, 10, 0.5),
    "exponential_staircase_end": optax.exponential_decay(0.1, 7, 0.5, 3, True, 0.01),
    "exponential_growth_end": optax.exponential_decay(0.01, 10, 1.5, 0, False, 0.05),
    "cosine": optax.cosine_decay_schedule(0.2, 90, 0.1),
    "cosine_exponent": optax.cosine_decay_schedule(1.0, 50, 0.0, 2.0),
    "warmup_cosine": optax.warmup_cosine_decay_schedule(0.0, 1e-3, 20, 150, 1e-5),
    "piecewise": optax.piecewise_constant_schedule(0.1, {30: 0.5, 10: 0.1, 60: 2.0}),
    "join": optax.join_schedules(
        [optax.constant_schedule(0.5), optax.linear_schedule(0.5, 0.0, 40), optax.constant_schedule(0.01)],
        [20, 100],
    ),
}
SCHEDULE_STEPS = list(range(0, 220)) + [1000, 100000, 2**31 - 1]

CASES = {
    "sgd": optax.sgd(0.1),
    "sgd_momentum": optax.sgd(0.1, momentum=0.9),
    "sgd_nesterov": optax.sgd(0.1, momentum=0.9, nesterov=True),
    "sgd_polynomial": optax.sgd(SCHEDULES["polynomial"]),
    "adam": optax.adam(1e-2),
    "adam_nesterov_eps_root": optax.adam(1e-2, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8, nesterov=True),
    "adamw": optax.adamw(1e-2, weight_decay=0.1),
    "adamw_masked": optax.adamw(1e-2, weight_decay=0.1, mask=kernel_only),
    "adamw_schedule": optax.adamw(SCHEDULES["warmup_cosine"], weight_decay=1e-4),
    "rmsprop": optax.rmsprop(1e-2),
    "rmsprop_momentum": optax.rmsprop(
        1e-2, decay=0.8, eps=1e-4, initial_scale=0.1, eps_in_sqrt=False, momentum=0.9, nesterov=True,
        bias_correction=True,
    ),
    "adagrad": optax.adagrad(0.1),
    "lion": optax.lion(1e-2),
    "lion_masked": optax.lion(1e-2, weight_decay=0.5, mask=kernel_only),
    "lamb": optax.lamb(1e-2, weight_decay=0.1),
    "clip_global_norm_adam_warmup_cosine": optax.chain(
        optax.clip_by_global_norm(1.0), optax.adam(SCHEDULES["warmup_cosine"])
    ),
    "clip_sgd_exponential": optax.chain(optax.clip(0.5), optax.sgd(SCHEDULES["exponential"], momentum=0.5)),
    "decay_then_piecewise": optax.chain(
        optax.add_decayed_weights(1e-2), optax.scale_by_learning_rate(SCHEDULES["piecewise"])
    ),
    "scheduled_weight_decay": optax.chain(
        optax.add_decayed_weights(SCHEDULES["linear"]), optax.scale(-0.1)
    ),
    "multi_steps_adam": optax.MultiSteps(optax.adam(1e-2), every_k_schedule=3),
    "multi_steps_sum_sgd": optax.MultiSteps(optax.sgd(0.1, momentum=0.9), every_k_schedule=2, use_grad_mean=False),
}


def run(tx, params=PARAMS, grads=GRADS, encode=arr):
    """`tx` from `params` over `grads`: the parameters after every step."""
    params = jax.tree.map(jnp.asarray, params)
    state = tx.init(params)
    out = []
    for g in grads:
        updates, state = tx.update(jax.tree.map(jnp.asarray, g), state, params)
        params = optax.apply_updates(params, updates)
        out.append({k: encode(v) for k, v in params.items()})
    return out


class Lin(nnx.Module):
    def __init__(self):
        self.kernel = nnx.Param(jnp.ones((2, 1), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((1,), jnp.float32))


class Model(nnx.Module):
    def __init__(self):
        self.l = Lin()
        self.stat = nnx.BatchStat(jnp.zeros((), jnp.float32))


def flax_optimizer():
    """`nnx.state(optimizer)` and `nnx.state(model)` as Flax prints them, after
    one adamw step (scheduled learning rate) with all-ones gradients."""
    model = Model()
    opt = nnx.Optimizer(
        model, optax.adamw(optax.linear_schedule(1e-3, 0.0, 10), weight_decay=1e-4), wrt=nnx.Param
    )
    init = str(nnx.state(opt))
    grads = jax.tree.map(jnp.ones_like, nnx.state(model, nnx.Param))
    opt.update(model, grads)
    return {"init": init, "optimizer": str(nnx.state(opt)), "model": str(nnx.state(model))}


def losses():
    """Each loss's per-example values and its vjp with a fixed cotangent, on
    inputs that include very large logits."""
    r = np.random.default_rng(1)
    logits = (r.normal(size=(4, 5)) * 3).astype(np.float32)
    logits[1] = [1e4, -1e4, 3e3, 0.0, 5.0]
    labels = np.array([0, 2, 4, 1], np.int32)
    onehot = np.eye(5, dtype=np.float32)[labels]
    onehot[3] = [0.1, 0.2, 0.3, 0.4, 0.0]
    bin_logits = np.array([[-200.0, -3.0, 0.0], [0.5, 40.0, 1e4]], np.float32)
    bin_labels = np.array([[0.0, 1.0, 1.0], [0.3, 0.0, 1.0]], np.float32)
    preds = (r.normal(size=(3, 4)) * 2).astype(np.float32)
    targets = (r.normal(size=(3, 4)) * 2).astype(np.float32)
    cases = {
        "softmax_cross_entropy_with_integer_labels": (
            lambda x: optax.softmax_cross_entropy_with_integer_labels(x, labels), [logits]),
        "softmax_cross_entropy": (optax.softmax_cross_entropy, [logits, onehot]),
        "sigmoid_binary_cross_entropy": (optax.sigmoid_binary_cross_entropy, [bin_logits, bin_labels]),
        "squared_error": (optax.squared_error, [preds, targets]),
        "l2_loss": (optax.l2_loss, [preds, targets]),
        "huber_loss": (lambda p, t: optax.huber_loss(p, t, delta=1.5), [preds, targets]),
        "cosine_distance": (lambda p, t: optax.cosine_distance(p, t, epsilon=0.1), [preds, targets]),
    }
    out = {}
    for name, (fn, args) in cases.items():
        value, vjp = jax.vjp(fn, *[jnp.asarray(a) for a in args])
        cot = r.uniform(0.5, 1.5, size=value.shape).astype(np.float32)
        grads = vjp(jnp.asarray(cot))
        out[name] = {
            "inputs": [arr(a) for a in args],
            "value": arr(value),
            "cotangent": arr(cot),
            "grads": [arr(g) for g in grads],
        }
    out["labels"] = arr(labels)
    return out


def metrics():
    """nnx.MultiMetric(accuracy, binary accuracy, loss average, loss Welford)
    over a few batches (one masked): compute() after each, the final state's
    print, and compute() after reset()."""
    r = np.random.default_rng(2)
    m = nnx.MultiMetric(
        accuracy=nnx.metrics.Accuracy(),
        loss=nnx.metrics.Average("loss"),
        spread=nnx.metrics.Welford("loss"),
    )
    binary = nnx.metrics.Accuracy(threshold=0.25)
    batches, computed = [], []
    for i in range(4):
        logits = r.normal(size=(6, 3)).astype(np.float32)
        labels = r.integers(0, 3, size=(6,)).astype(np.int32)
        loss = (r.normal(size=(6,)) ** 2).astype(np.float32)
        mask = (r.uniform(size=(6,)) > 0.3) if i == 2 else None
        kwargs = dict(logits=jnp.asarray(logits), labels=jnp.asarray(labels), loss=jnp.asarray(loss))
        if mask is not None:
            kwargs["mask"] = jnp.asarray(mask)
        m.update(**kwargs)
        binary.update(logits=jnp.asarray(logits[:, 0]), labels=jnp.asarray(labels))
        c = m.compute()
        computed.append({
            "accuracy": float(c["accuracy"]),
            "loss": float(c["loss"]),
            "spread": [float(c["spread"].mean), float(c["spread"].standard_error_of_mean),
                       float(c["spread"].standard_deviation)],
            "binary": float(binary.compute()),
        })
        batches.append({"logits": arr(logits), "labels": arr(labels), "loss": arr(loss),
                        "mask": None if mask is None else arr(mask)})
    state = str(nnx.state(m))
    m.reset()
    return {"batches": batches, "computed": computed, "state": state,
            "after_reset_loss_is_nan": bool(np.isnan(m.compute()["loss"]))}


DROPOUT_RATE = 0.2


class Mlp(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(4, 16, rngs=rngs)
        # Forks its stream from `default` here, between the two Linears' keys.
        self.dropout = nnx.Dropout(DROPOUT_RATE, rngs=rngs)
        self.l2 = nnx.Linear(16, 3, rngs=rngs)

    def __call__(self, x):
        return self.l2(self.dropout(nnx.relu(self.l1(x))))


def training():
    """A short run: MLP with Dropout from nnx.Rngs(0), nnx.Optimizer(adamw with
    a warmup-cosine schedule and gradient clipping), fixed batches; the loss of
    every step, the final parameters and dropout stream count, and the loss of
    the last batch in eval mode (no dropout)."""
    r = np.random.default_rng(3)
    model = Mlp(nnx.Rngs(0))
    lr = optax.warmup_cosine_decay_schedule(0.0, 3e-2, 5, 30, 1e-3)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(lr, weight_decay=1e-2))
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)

    def loss_fn(m, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    batches, losses = [], []
    for _ in range(30):
        x = r.normal(size=(8, 4)).astype(np.float32)
        y = (np.abs(x[:, 0] + x[:, 1] * x[:, 2]) * 1.2).astype(np.int32).clip(0, 2)
        loss, grads = nnx.value_and_grad(loss_fn)(model, jnp.asarray(x), jnp.asarray(y))
        opt.update(model, grads)
        batches.append({"x": arr(x), "y": arr(y)})
        losses.append(float(loss))
    dropout_count = int(model.dropout.rngs.count.get_value())
    model.eval()
    eval_loss = float(loss_fn(model, jnp.asarray(x), jnp.asarray(y)))
    return {"batches": batches, "losses": losses, "dropout_rate": DROPOUT_RATE,
            "dropout_count": dropout_count, "eval_loss": eval_loss,
            "final": {"/".join(map(str, p)): arr(v.get_value()) for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}}


def main():
    data = {
        "params": {k: arr(v) for k, v in PARAMS.items()},
        "grads": [{k: arr(v) for k, v in g.items()} for g in GRADS],
        "cases": {name: run(tx) for name, tx in CASES.items()},
        "flax_optimizer": flax_optimizer(),
        "losses": losses(),
        "metrics": metrics(),
        "training": training(),
        "schedule_steps": SCHEDULE_STEPS,
        "schedules": {
            name: [float(np.float32(s(jnp.asarray(i, jnp.int32)))) for i in SCHEDULE_STEPS]
            for name, s in SCHEDULES.items()
        },
    }
    with open("nnx-optim/tests/data/optax_reference.json", "w") as f:
        json.dump(data, f)
        f.write("\n")


if __name__ == "__main__":
    main()
