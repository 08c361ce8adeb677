"""Read a safetensors checkpoint written by nnx (Rust) into a Flax NNX model:
the inverse of `export_safetensors.py`.

`load_into(model, path)` replaces every Variable of `nnx.state(model)` with
the tensor at its dotted path, strictly, as `nnx::checkpoint::load_into` does
in Rust: each Variable must be in the file with the same Variable type,
shape and dtype, and the file may hold nothing else. PRNG keys (`RngKey`,
stored as raw uint32 key data) are wrapped back into typed keys. On a
mismatch it raises `ValueError` listing every problem and leaves the model
unchanged.
"""

from __future__ import annotations

import json

import jax
import numpy as np
from safetensors import safe_open

from flax import nnx


def read_checkpoint(path):
    """`{dotted name: (type name, numpy array)}` of an nnx checkpoint."""
    with safe_open(str(path), framework="numpy") as f:
        header = json.loads((f.metadata() or {}).get("nnx", "{}"))
        return {name: (header.get(name, {}).get("type"), f.get_tensor(name)) for name in f.keys()}


def load_into(model: nnx.Module, path) -> list[str]:
    """Loads the checkpoint at `path` into `model`; returns the names loaded."""
    tensors = read_checkpoint(path)
    state = nnx.state(model)
    problems, updates = [], []
    for p, var in nnx.to_flat_state(state):
        name = ".".join(str(getattr(k, "key", k)) for k in p)
        kind = type(var).__name__
        if name not in tensors:
            problems.append(f"{name}: missing (expected {kind})")
            continue
        found_kind, array = tensors.pop(name)
        current = var.get_value()
        is_key = isinstance(current, jax.Array) and jax.dtypes.issubdtype(
            current.dtype, jax.dtypes.prng_key
        )
        want = np.asarray(jax.random.key_data(current) if is_key else current)
        if found_kind != kind:
            problems.append(f"{name}: expected a {kind}, found a {found_kind}")
        elif array.shape != want.shape or array.dtype != want.dtype:
            problems.append(
                f"{name}: expected {want.dtype}{list(want.shape)}, found {array.dtype}{list(array.shape)}"
            )
        else:
            value = jax.random.wrap_key_data(array) if is_key else jax.numpy.asarray(array)
            updates.append((var, value))
    problems += [f"{name}: not a Variable of the model" for name in sorted(tensors)]
    if problems:
        raise ValueError(f"{path}:\n  " + "\n  ".join(problems))
    for var, value in updates:
        var.set_value(value)
    nnx.update(model, state)
    return sorted(
        ".".join(str(getattr(k, "key", k)) for k in p) for p, _ in nnx.to_flat_state(state)
    )
