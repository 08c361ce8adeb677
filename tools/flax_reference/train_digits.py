"""Train a small Flax NNX CNN on scikit-learn's digits and export it for Rust.

Writes, into `examples/data/digits/` (or the directory given as argv[1]):

* `model.safetensors`: `nnx.state(model)` (Params and BatchStats) in the
  checkpoint format of `nnx_core::checkpoint` (see `export_safetensors.py`);
* `init.safetensors`: the same State right after `DigitsCnn(nnx.Rngs(0))`,
  before training;
* `test_set.safetensors`: the held-out split, `images` float32
  `(n, 8, 8, 1)` in [0, 1] (NHWC) and `labels` int32 `(n,)`;
* `flax_logits.safetensors`: `logits` float32 `(n, 10)`, Flax's eval-mode
  outputs on the test set (exact bits);
* `flax_logits.json`: the test accuracy, the number correct, the predictions,
  and the architecture and versions used.

Run with the Flax venv: `/work/flaxenv/bin/python tools/flax_reference/train_digits.py`.
The run is deterministic (fixed split, `nnx.Rngs(0)`, fixed shuffling seed).
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

EPOCHS = 15
BATCH = 32
LEARNING_RATE = 3e-3


class DigitsCnn(nnx.Module):
    """conv(1->16) -> BN -> relu -> maxpool 2 -> conv(16->32) -> BN -> relu ->
    maxpool 2 -> flatten -> dropout(0.2) -> linear(128 -> 10)."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 16, (3, 3), rngs=rngs)
        self.bn1 = nnx.BatchNorm(16, rngs=rngs)
        self.conv2 = nnx.Conv(16, 32, (3, 3), rngs=rngs)
        self.bn2 = nnx.BatchNorm(32, rngs=rngs)
        # No stream stored in the layer: the key is passed when training, so the
        # model's state is exactly its Params and BatchStats (a PRNG key is not
        # a checkpointable tensor).
        self.dropout = nnx.Dropout(0.2)
        self.linear = nnx.Linear(2 * 2 * 32, 10, rngs=rngs)

    def __call__(self, x, rngs: jax.Array | None = None):
        x = nnx.max_pool(nnx.relu(self.bn1(self.conv1(x))), (2, 2), strides=(2, 2))
        x = nnx.max_pool(nnx.relu(self.bn2(self.conv2(x))), (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        x = self.dropout(x, rngs=rngs)
        return self.linear(x)


def data():
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]  # (n, 8, 8, 1)
    y = digits.target.astype(np.int32)
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


@nnx.jit
def train_step(model, optimizer, x, y, dropout_key):
    def loss_fn(model):
        logits = model(x, rngs=dropout_key)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


def main():
    x_train, x_test, y_train, y_test = data()
    model = DigitsCnn(nnx.Rngs(0))
    OUT.mkdir(parents=True, exist_ok=True)
    # The untrained state too: a Rust model built from `Rngs::new(0)` must
    # start from exactly these values.
    export_state(nnx.state(model), OUT / "init.safetensors")
    optimizer = nnx.Optimizer(model, optax.adam(LEARNING_RATE), wrt=nnx.Param)
    dropout_key = jax.random.key(1)
    step = 0
    order = np.random.RandomState(0)

    model.train()
    for epoch in range(EPOCHS):
        perm = order.permutation(len(x_train))
        losses = []
        for i in range(0, len(perm) - BATCH + 1, BATCH):
            idx = perm[i : i + BATCH]
            key = jax.random.fold_in(dropout_key, step)
            step += 1
            losses.append(float(train_step(model, optimizer, x_train[idx], y_train[idx], key)))
        print(f"epoch {epoch + 1:2d}: loss {np.mean(losses):.4f}")

    model.eval()
    logits = np.asarray(model(jnp.asarray(x_test)), dtype=np.float32)
    pred = logits.argmax(axis=-1)
    correct = int((pred == y_test).sum())
    accuracy = correct / len(y_test)
    print(f"test accuracy: {accuracy:.4f} ({correct}/{len(y_test)})")

    state = nnx.state(model)
    kinds = {type(v).__name__ for _, v in nnx.to_flat_state(state)}
    assert kinds == {"Param", "BatchStat"}, kinds
    names = export_state(state, OUT / "model.safetensors")
    print("exported:", ", ".join(names))
    save_file(
        {"images": np.ascontiguousarray(x_test), "labels": y_test},
        str(OUT / "test_set.safetensors"),
    )
    save_file({"logits": logits}, str(OUT / "flax_logits.safetensors"))
    summary = {
        "accuracy": accuracy,
        "correct": correct,
        "n_test": int(len(y_test)),
        "predictions": pred.tolist(),
        "architecture": DigitsCnn.__doc__.split("\n")[0].strip()
        + " "
        + DigitsCnn.__doc__.split("\n")[1].strip(),
        "training": {
            "epochs": EPOCHS,
            "batch": BATCH,
            "optimizer": f"adam({LEARNING_RATE})",
            "split": "train_test_split(test_size=0.25, random_state=0, stratify=y)",
            "init": "nnx.Rngs(0)",
        },
        "versions": {"flax": flax.__version__, "jax": jax.__version__},
    }
    (OUT / "flax_logits.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
