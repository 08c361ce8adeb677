"""Train a small Flax NNX CNN on scikit-learn's digits: the reference run that
`cargo run --release --example train_digits` reproduces step by step in Rust.

Everything random comes from seeds the Rust side reproduces bit for bit:
parameters from `nnx.Rngs(params=0, dropout=1)` (the Dropout owns a stream
forked from `dropout`), and epoch `e`'s batch order from
`jax.random.permutation(jax.random.fold_in(jax.random.key(SHUFFLE_SEED), e), n)`
(`nnx::random::permutation` in Rust). The data split is sklearn's
`train_test_split(test_size=0.25, random_state=0, stratify=y)`; it is exported
because Rust has no sklearn.

Writes, into `examples/data/digits/` (or the directory given as argv[1]):

* `init.safetensors`: `nnx.state(model)` right after construction;
* `model.safetensors`: `nnx.state(model)` after training (Params, BatchStats
  and the Dropout's stream), in `nnx_core::checkpoint`'s format;
* `train_set.safetensors`, `test_set.safetensors`: `images` float32
  `(n, 8, 8, 1)` in [0, 1] (NHWC) and `labels` int32 `(n,)`;
* `flax_logits.safetensors`: `logits` float32 `(n_test, 10)`, eval mode;
* `flax_logits.json`: test accuracy, number correct, predictions, versions;
* `flax_training.json`: the configuration, every step's loss and batch
  accuracy and learning rate, per-epoch metrics (train loss/accuracy from
  `nnx.metrics`, test loss/accuracy in eval mode), epoch 0's batch order.

Run: `python3 tools/flax_reference/train_digits.py` (needs flax, optax,
scikit-learn, safetensors). The run is deterministic.
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from safetensors.numpy import save_file
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import flax
from flax import nnx

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from export_safetensors import export_state  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples/data/digits"

# The defaults of `examples/train_digits.rs`.
EPOCHS = 10
BATCH = 32
PEAK_LR = 3e-3
WARMUP_STEPS = 40
END_LR = 1e-5
WEIGHT_DECAY = 1e-4
PARAMS_SEED = 0
DROPOUT_SEED = 1
SHUFFLE_SEED = 2


class DigitsCnn(nnx.Module):
    """conv(1->16) -> BN -> relu -> maxpool 2 -> conv(16->32) -> BN -> relu ->
    maxpool 2 -> flatten -> dropout(0.2) -> linear(128 -> 10)."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 16, (3, 3), rngs=rngs)
        self.bn1 = nnx.BatchNorm(16, rngs=rngs)
        self.conv2 = nnx.Conv(16, 32, (3, 3), rngs=rngs)
        self.bn2 = nnx.BatchNorm(32, rngs=rngs)
        self.dropout = nnx.Dropout(0.2, rngs=rngs)
        self.linear = nnx.Linear(2 * 2 * 32, 10, rngs=rngs)

    def __call__(self, x):
        x = nnx.max_pool(nnx.relu(self.bn1(self.conv1(x))), (2, 2), strides=(2, 2))
        x = nnx.max_pool(nnx.relu(self.bn2(self.conv2(x))), (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        return self.linear(self.dropout(x))


def data():
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]  # (n, 8, 8, 1)
    y = digits.target.astype(np.int32)
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


def batch_order(epoch: int, n: int) -> np.ndarray:
    key = jax.random.fold_in(jax.random.key(SHUFFLE_SEED), epoch)
    return np.asarray(jax.random.permutation(key, n))


def schedule(total_steps: int):
    return optax.warmup_cosine_decay_schedule(
        0.0, PEAK_LR, WARMUP_STEPS, total_steps, END_LR
    )


def loss_fn(model, x, y):
    logits = model(x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), logits


@nnx.jit
def train_step(model, optimizer, metrics, x, y):
    (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, x, y)
    optimizer.update(model, grads)
    metrics.update(loss=loss, logits=logits, labels=y)
    return loss, logits


@nnx.jit
def eval_step(model, x, y):
    return loss_fn(model, x, y)


def train(model, x_train, y_train, x_test, y_test, log=print):
    """The training run (also timed by `benches/compare/flax_bench.py`): returns
    every step's record, the per-epoch metrics and epoch 0's batch order."""
    steps_per_epoch = len(x_train) // BATCH  # the last partial batch is dropped
    lr = schedule(EPOCHS * steps_per_epoch)
    tx = optax.adamw(lr, weight_decay=WEIGHT_DECAY)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    metrics = nnx.MultiMetric(accuracy=nnx.metrics.Accuracy(), loss=nnx.metrics.Average("loss"))

    steps, epochs = [], []
    first_order = None
    for epoch in range(EPOCHS):
        order = batch_order(epoch, len(x_train))
        if first_order is None:
            first_order = order.tolist()
        model.train()
        metrics.reset()
        for b in range(steps_per_epoch):
            idx = order[b * BATCH : (b + 1) * BATCH]
            x, y = x_train[idx], y_train[idx]
            step = len(steps)
            loss, logits = train_step(model, optimizer, metrics, x, y)
            acc = float((np.asarray(logits).argmax(-1) == y).mean())
            steps.append(
                {"loss": float(loss), "accuracy": acc, "learning_rate": float(lr(step))}
            )
        train = metrics.compute()
        model.eval()
        test_loss, test_logits = eval_step(model, x_test, y_test)
        test_acc = float((np.asarray(test_logits).argmax(-1) == y_test).mean())
        epochs.append(
            {
                "epoch": epoch + 1,
                "train_loss": float(train["loss"]),
                "train_accuracy": float(train["accuracy"]),
                "test_loss": float(test_loss),
                "test_accuracy": test_acc,
            }
        )
        if log:
            log(
                f"epoch {epoch + 1:2d}: train loss {float(train['loss']):.4f} "
                f"acc {float(train['accuracy']):.4f} | test loss {float(test_loss):.4f} acc {test_acc:.4f}"
            )
    return steps, epochs, first_order


def main():
    x_train, x_test, y_train, y_test = data()
    model = DigitsCnn(nnx.Rngs(params=PARAMS_SEED, dropout=DROPOUT_SEED))
    OUT.mkdir(parents=True, exist_ok=True)
    export_state(nnx.state(model), OUT / "init.safetensors")
    steps, epochs, first_order = train(model, x_train, y_train, x_test, y_test)
    steps_per_epoch = len(x_train) // BATCH
    total_steps = EPOCHS * steps_per_epoch

    model.eval()
    logits = np.asarray(model(jnp.asarray(x_test)), dtype=np.float32)
    pred = logits.argmax(axis=-1)
    correct = int((pred == y_test).sum())
    accuracy = correct / len(y_test)
    print(f"test accuracy: {accuracy:.4f} ({correct}/{len(y_test)})")

    state = nnx.state(model)
    names = export_state(state, OUT / "model.safetensors")
    print("exported:", ", ".join(names))
    save_file(
        {"images": np.ascontiguousarray(x_train), "labels": y_train},
        str(OUT / "train_set.safetensors"),
    )
    save_file(
        {"images": np.ascontiguousarray(x_test), "labels": y_test},
        str(OUT / "test_set.safetensors"),
    )
    save_file({"logits": logits}, str(OUT / "flax_logits.safetensors"))
    architecture = " ".join(line.strip() for line in DigitsCnn.__doc__.split("\n")[:2])
    versions = {"flax": flax.__version__, "jax": jax.__version__, "optax": optax.__version__}
    config = {
        "epochs": EPOCHS,
        "batch": BATCH,
        "steps_per_epoch": steps_per_epoch,
        "optimizer": (
            f"adamw(warmup_cosine_decay_schedule(0, {PEAK_LR}, {WARMUP_STEPS}, "
            f"{total_steps}, {END_LR}), weight_decay={WEIGHT_DECAY})"
        ),
        "peak_lr": PEAK_LR,
        "warmup_steps": WARMUP_STEPS,
        "end_lr": END_LR,
        "weight_decay": WEIGHT_DECAY,
        "rngs": {"params": PARAMS_SEED, "dropout": DROPOUT_SEED},
        "shuffle_seed": SHUFFLE_SEED,
        "batch_order": "jax.random.permutation(fold_in(key(shuffle_seed), epoch), n_train)",
        "split": "train_test_split(test_size=0.25, random_state=0, stratify=y)",
    }
    summary = {
        "accuracy": accuracy,
        "correct": correct,
        "n_test": int(len(y_test)),
        "predictions": pred.tolist(),
        "architecture": architecture,
        "training": config,
        "versions": versions,
    }
    (OUT / "flax_logits.json").write_text(json.dumps(summary, indent=1) + "\n")
    dropout_count = int(model.dropout.rngs.count[...])
    training = {
        "architecture": architecture,
        "config": config,
        "versions": versions,
        "n_train": int(len(y_train)),
        "steps": steps,
        "epochs": epochs,
        "test_accuracy": accuracy,
        "test_correct": correct,
        "dropout_count": dropout_count,
        "epoch0_order": first_order,
    }
    (OUT / "flax_training.json").write_text(json.dumps(training) + "\n")


if __name__ == "__main__":
    main()
