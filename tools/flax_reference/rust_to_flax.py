"""Rust -> Flax: the digits CNN trained in Rust, evaluated by Flax.

Loads the checkpoint that `cargo run --release --example train_digits` wrote
(`model.safetensors` in its checkpoint directory, default
`target/nnx-runs/digits`) into `train_digits.DigitsCnn` with
`import_safetensors.load_into` (strict: paths, Variable types, shapes, dtypes),
classifies the test split in eval mode, and compares with what the Rust run
recorded in `run.json`: the same test accuracy, and the same number correct.

Writes the comparison to `examples/data/digits/rust_to_flax.json` (committed:
it proves the round trip once) and exits non-zero on a mismatch.

Run: `python3 tools/flax_reference/rust_to_flax.py [CHECKPOINT_DIR]`.
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from safetensors.numpy import load_file

import flax
from flax import nnx

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from import_safetensors import load_into  # noqa: E402
from train_digits import DigitsCnn  # noqa: E402

ROOT = HERE.parents[1]
RUN = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target/nnx-runs/digits"
OUT = ROOT / "examples/data/digits/rust_to_flax.json"


def main():
    model = DigitsCnn(nnx.Rngs(params=0, dropout=1))
    names = load_into(model, RUN / "model.safetensors")
    model.eval()
    test = load_file(str(ROOT / "examples/data/digits/test_set.safetensors"))
    x, y = jnp.asarray(test["images"]), np.asarray(test["labels"])
    logits = model(x)
    loss = float(optax.softmax_cross_entropy_with_integer_labels(logits, y).mean())
    pred = np.asarray(logits).argmax(-1)
    correct = int((pred == y).sum())
    accuracy = correct / len(y)

    record = json.loads((RUN / "run.json").read_text())
    last = record["epochs"][-1]
    rust_accuracy = last["eval"]["test_accuracy"]
    rust_loss = last["eval"]["test_loss"]
    same = round(rust_accuracy * len(y)) == correct
    report = {
        "checkpoint": "model.safetensors written by examples/train_digits.rs",
        "loaded": names,
        "rust_steps": len(record["steps"]),
        "rust_test_accuracy": rust_accuracy,
        "flax_test_accuracy": accuracy,
        "flax_correct": correct,
        "n_test": int(len(y)),
        "rust_test_loss": rust_loss,
        "flax_test_loss": loss,
        "test_loss_relative_difference": abs(loss - rust_loss) / abs(loss),
        "same_accuracy": same,
        "versions": {"flax": flax.__version__, "jax": jax.__version__},
    }
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    print(f"loaded {len(names)} Variables from {RUN / 'model.safetensors'}")
    print(f"Flax test accuracy of the Rust-trained model: {accuracy:.4f} ({correct}/{len(y)})")
    print(f"Rust test accuracy (run.json):                {rust_accuracy:.4f}")
    print(f"test loss: Flax {loss:.6f}, Rust {rust_loss:.6f}")
    print(f"wrote {OUT}")
    if not same:
        sys.exit("MISMATCH: Flax's accuracy of the Rust checkpoint differs from Rust's")


if __name__ == "__main__":
    main()
