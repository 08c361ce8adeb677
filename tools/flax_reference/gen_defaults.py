"""List the default arguments of jax.nn's activations and initializers and of
Flax NNX's layer constructors, from the installed packages' signatures.

Run:  python tools/flax_reference/gen_defaults.py
Writes tests/data/defaults/flax_defaults.json: {"flax": version, "jax": version,
"signatures": {"jax.nn.elu": {"alpha": 1.0}, "flax.nnx.Linear": {...}, ...}}.
A default that is a function (an initializer) is written as its name with the
settings it closes over (`variance_scaling(scale=1.0, mode=fan_in, ...)`), a
dtype or type by name. tests/defaults.rs checks nnx's defaults against it.
"""
import inspect
import json
import os

import flax
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

ACTIVATIONS = [
    "celu", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "leaky_relu", "log_sigmoid", "log_softmax", "logsumexp",
    "one_hot", "relu", "relu6", "selu", "sigmoid", "silu", "soft_sign",
    "softmax", "softplus", "standardize", "swish", "tanh",
]
INITIALIZERS = [
    "constant", "delta_orthogonal", "glorot_normal", "glorot_uniform",
    "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform",
    "lecun_normal", "lecun_uniform", "normal", "orthogonal",
    "truncated_normal", "uniform", "variance_scaling", "xavier_normal",
    "xavier_uniform",
]
LAYERS = [
    "BatchNorm", "Bidirectional", "Conv", "ConvTranspose", "Dropout", "Einsum",
    "Embed", "GRUCell", "GroupNorm", "InstanceNorm", "LayerNorm", "Linear",
    "LinearGeneral", "LoRA", "LoRALinear", "LSTMCell", "MultiHeadAttention",
    "OptimizedLSTMCell", "PReLU", "RMSNorm", "RNN", "SimpleCell",
    "SpectralNorm", "WeightNorm",
]
# Functions of nnx that layers take as defaults, by identity.
NAMED = {}
for module, names in [(jax.nn, ["relu", "sigmoid", "tanh", "silu", "gelu"]),
                      (jax.nn.initializers, ["zeros", "ones"]),
                      (jnp, ["concatenate"]),
                      (nnx, ["dot_product_attention"])]:
    for n in names:
        NAMED[id(getattr(module, n))] = n


def show(value):
    if value is inspect.Parameter.empty:
        return "<required>"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [show(v) for v in value]
    if id(value) in NAMED:
        return NAMED[id(value)]
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, (np.dtype, jnp.dtype)) or value in (jnp.float32, jnp.float64):
        return np.dtype(value).name
    if callable(value):
        name = getattr(value, "__qualname__", repr(value))
        try:
            closed = inspect.getclosurevars(value).nonlocals
        except TypeError:
            closed = {}
        base = name.split(".<locals>")[0]
        if closed:
            args = ", ".join(f"{k}={show(v)}" for k, v in sorted(closed.items()))
            return f"{base}({args})"
        return base
    return repr(value)


def params(fn):
    sig = inspect.signature(fn)
    return {
        name: show(p.default)
        for name, p in sig.parameters.items()
        if name not in ("self", "rngs", "args", "kwargs")
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


signatures = {}
for n in ACTIVATIONS:
    signatures[f"jax.nn.{n}"] = params(getattr(jax.nn, n))
for n in INITIALIZERS:
    signatures[f"jax.nn.initializers.{n}"] = params(getattr(jax.nn.initializers, n))
for n in LAYERS:
    signatures[f"flax.nnx.{n}"] = params(getattr(nnx, n).__init__)

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "defaults", "flax_defaults.json")
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump({"flax": flax.__version__, "jax": jax.__version__, "signatures": signatures}, f, indent=1, sort_keys=True)
    f.write("\n")
