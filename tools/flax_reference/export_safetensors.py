"""Write Flax variables as a safetensors checkpoint in nnx's (Rust) format.

The Rust checkpoint module (`nnx_core::checkpoint`) stores one tensor per
Variable, named by its dotted path (`conv1.kernel`, `bn1.mean`, `layers.0.bias`),
and one `__metadata__` key, `"nnx"`, whose value is a JSON object with an entry
per tensor:

    {"conv1.kernel": {"type": "Param", "path": ["conv1", "kernel"], "metadata": {...}}}

The entries are sorted by tensor name and written compactly, as the Rust writer
does, so that a file written here has the same header as one written by Rust
from the same State.

Two inputs are accepted:

* an NNX `nnx.State` (e.g. `nnx.state(model)`) or an `nnx.Module`: each
  Variable keeps its path and its type name (`Param`, `BatchStat`, ...);
* a Linen-style variable dict `{"params": {...}, "batch_stats": {...}}`: the
  collection names are mapped to NNX Variable types through Flax's registry
  (`params` -> `Param`, `batch_stats` -> `BatchStat`, ...) and dropped from the
  path, which is how `nnx.bridge` lays Linen variables out as NNX ones.

Usage:

    from export_safetensors import export_state
    export_state(nnx.state(model), "model.safetensors")

PRNG keys (`RngKey`) are written as their raw uint32 key data and 0-d
`RngCount`s are flagged as Rust scalars, as `nnx_core::checkpoint` writes an
`RngStream`'s Variables. Flax's own Variable flags (`hijax`, `ref`,
`eager_sharding`) are not metadata and are dropped; other metadata is kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import jax
import numpy as np
from safetensors.numpy import save_file

from flax import nnx
from flax.nnx import variablelib

# Flax's own Variable configuration flags: not user metadata, and meaningless
# to the Rust Variables.
_FLAX_INTERNAL_METADATA = frozenset({"hijax", "ref", "eager_sharding"})

# Variable types whose 0-d values are plain Rust scalars on the Rust side
# (`RngCount<u32>` in `RngStream`), flagged `"scalar": true` as Rust writes them.
_RUST_SCALAR_KINDS = frozenset({"RngCount"})

# The numpy dtypes the Rust checkpoint reader knows.
_DTYPES = {
    np.dtype(np.float32),
    np.dtype(np.float64),
    np.dtype(np.int32),
    np.dtype(np.int64),
    np.dtype(np.uint8),
    np.dtype(np.uint32),
    np.dtype(np.bool_),
}


def _meta_json(v):
    """A metadata value in the Rust module's lossless JSON encoding."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if math.isnan(x):
            return {"float": "nan"}
        if math.isinf(x):
            return {"float": "inf" if x > 0 else "-inf"}
        return x
    if isinstance(v, tuple):
        return {"tuple": [_meta_json(x) for x in v]}
    if isinstance(v, list):
        return [_meta_json(x) for x in v]
    raise TypeError(f"metadata value {v!r} has no checkpoint encoding")


def _path_key(k):
    """One path key: an int index or a string name (nnx path keys may be
    `DictKey`/`GetAttrKey` wrappers in some versions)."""
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr) and not isinstance(k, (str, int)):
            k = getattr(k, attr)
            break
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        return int(k)
    return str(k)


def _as_array(path, value):
    if isinstance(value, jax.Array) and jax.dtypes.issubdtype(
        value.dtype, jax.dtypes.prng_key
    ):
        # A typed PRNG key is stored as its raw uint32 data, as the Rust writer
        # stores `nnx_core::random::PrngKey` (shape `(..., 2)` for threefry).
        value = jax.random.key_data(value)
    arr = np.asarray(value)
    if arr.dtype not in _DTYPES:
        raise TypeError(
            f"{'.'.join(map(str, path))}: dtype {arr.dtype} is not one the Rust "
            "checkpoint reader knows (f32, f64, i32, i64, u8, u32, bool)"
        )
    # (not np.ascontiguousarray: it turns 0-d arrays into 1-d ones)
    return np.array(arr, order="C", copy=True)


def _leaves_nnx(state):
    """(path, type name, metadata, value) for every Variable of an NNX State."""
    out = []
    for path, var in nnx.to_flat_state(state):
        if not isinstance(var, variablelib.Variable):
            raise TypeError(f"{path}: {type(var).__name__} is not a Variable")
        meta = {
            k: v
            for k, v in var.get_metadata().items()
            if k not in _FLAX_INTERNAL_METADATA
        }
        out.append(
            (tuple(_path_key(k) for k in path), type(var).__name__, meta, var.get_value())
        )
    return out


def _flatten_dict(d, prefix=()):
    for k, v in d.items():
        if isinstance(v, Mapping):
            yield from _flatten_dict(v, prefix + (_path_key(k),))
        else:
            yield prefix + (_path_key(k),), v


def _leaves_linen(variables):
    """(path, type name, {}, value) for a Linen `{collection: tree}` dict."""
    out = []
    for collection, tree in variables.items():
        kind = variablelib.variable_type_from_name(collection).__name__
        for path, value in _flatten_dict(tree):
            out.append((path, kind, {}, value))
    return out


def state_to_tensors(state):
    """The tensors and the `__metadata__` map nnx's checkpoint format holds for
    `state` (an `nnx.State`, an `nnx.Module` or a Linen variable dict)."""
    if isinstance(state, nnx.Module):
        state = nnx.state(state)
    if isinstance(state, nnx.State):
        leaves = _leaves_nnx(state)
    elif isinstance(state, Mapping):
        leaves = _leaves_linen(state)
    else:
        raise TypeError(f"cannot export a {type(state).__name__}")

    tensors, entries = {}, {}
    for path, kind, meta, value in leaves:
        name = ".".join(str(k) for k in path)
        if name in tensors:
            raise ValueError(f"two Variables share the tensor name {name!r}")
        tensors[name] = _as_array(path, value)
        entry = {"type": kind, "path": list(path)}
        if meta:
            entry["metadata"] = {k: _meta_json(v) for k, v in meta.items()}
        if kind in _RUST_SCALAR_KINDS and tensors[name].ndim == 0:
            entry["scalar"] = True
        entries[name] = entry
    header = json.dumps(
        {k: entries[k] for k in sorted(entries)}, separators=(",", ":")
    )
    return tensors, {"nnx": header}


def export_state(state, path):
    """Writes `state` to `path` as an nnx safetensors checkpoint (see the
    module docstring); returns the tensor names written."""
    tensors, metadata = state_to_tensors(state)
    save_file(tensors, str(path), metadata=metadata)
    return sorted(tensors)
