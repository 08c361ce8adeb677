"""A Flax `nnx.Sequential` of mixed layers, exported for the Rust `Sequential<Layer>`.

Builds `nnx.Sequential(nnx.Linear(3, 4), nnx.relu, nnx.LayerNorm(4), nnx.Linear(4, 2))`
from `nnx.Rngs(0)`, writes its state as a checkpoint in `nnx_core::checkpoint`'s
format (see `export_safetensors.py`) and its output for a fixed input as JSON.
The activation holds no state but still takes index 1, so the second Linear's
parameters sit under `layers/3`.

Writes `tests/data/sequential/{model.safetensors,forward.json}`. Run from anywhere:

    python tools/flax_reference/gen_sequential.py
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax.numpy as jnp
import numpy as np

import flax
from flax import nnx

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from export_safetensors import export_state  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "sequential"


def main() -> None:
    rngs = nnx.Rngs(0)
    model = nnx.Sequential(
        nnx.Linear(3, 4, rngs=rngs),
        nnx.relu,
        nnx.LayerNorm(4, rngs=rngs),
        nnx.Linear(4, 2, rngs=rngs),
    )
    x = jnp.asarray(np.linspace(-1.0, 1.0, 6, dtype=np.float32).reshape(2, 3))
    y = model(x)
    OUT.mkdir(parents=True, exist_ok=True)
    state = nnx.state(model)
    export_state(state, OUT / "model.safetensors")
    paths = ["/".join(str(k) for k in p) for p, _ in nnx.to_flat_state(state)]
    record = {
        "flax_version": flax.__version__,
        "input": np.asarray(x).tolist(),
        "output": np.asarray(y).tolist(),
        "paths": paths,
    }
    (OUT / "forward.json").write_text(json.dumps(record, indent=1) + "\n")
    print(paths)


if __name__ == "__main__":
    main()
