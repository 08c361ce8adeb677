"""Writes reference data for nnx-layers' stateful layers (normalization, dropout,
multi-head attention) from the real Flax NNX 0.12.8.

Each case builds a layer from `nnx.Rngs(...)`, records every Variable of its
state (path, type, shape, values), runs forward passes (train and eval where
they differ, several steps where state changes) and records the outputs and the
state afterwards. Output: nnx-layers/tests/data/layers/stateful.json.

    /work/flaxenv/bin/python tools/flax_reference/gen_layers_stateful.py
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from reference_json import arr

jax.config.update("jax_default_matmul_precision", "highest")
RNG = np.random.default_rng(7)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "nnx-layers", "tests", "data", "layers")


def rand(*shape, scale=1.0, shift=0.0):
    return (RNG.standard_normal(shape) * scale + shift).astype(np.float32)


def state_record(module, flt=nnx.Variable):
    """Every Variable but the RNG ones (whose key values are checked by `rngs`)."""
    out = {}
    for path, var in nnx.to_flat_state(nnx.state(module, flt)):
        name = type(var).__name__
        key = "/".join(str(p) for p in path)
        if name in ("RngKey", "RngCount"):
            if name == "RngCount":
                data = int(var[...])
            else:
                data = [int(v) for v in np.asarray(jax.random.key_data(var[...]))]
            out[key] = {"type": name, "shape": [], "data": data, "tag": var.tag}
            continue
        rec = arr(var[...])
        rec["type"] = name
        out[key] = rec
    return out


# Non-default initializers so that parameter values are worth comparing.
INITS = {
    "normal": nnx.initializers.normal(1.0),
    "uniform": nnx.initializers.uniform(1.0),
    "lecun_normal": nnx.initializers.lecun_normal(),
}


def build_kwargs(cfg):
    kw = {}
    for k, v in cfg.items():
        if k.endswith("_init"):
            kw[k] = INITS[v]
        elif isinstance(v, list):
            kw[k] = tuple(v)
        else:
            kw[k] = v
    return kw


def batchnorm():
    cases = []
    configs = [
        ({"num_features": 3}, (4, 3)),
        ({"num_features": 4, "axis": 1, "momentum": 0.9, "epsilon": 1e-3}, (2, 4, 5)),
        ({"num_features": 3, "use_bias": False, "use_scale": False}, (5, 2, 3)),
        ({"num_features": 3, "scale_init": "normal", "bias_init": "uniform", "use_fast_variance": False}, (6, 3)),
    ]
    for seed in (0, 1):
        for cfg, shape in configs:
            m = nnx.BatchNorm(**build_kwargs(cfg), rngs=nnx.Rngs(seed))
            rec = {"layer": "BatchNorm", "seed": seed, "config": cfg, "state": state_record(m), "steps": []}
            for i in range(2):
                x = rand(*shape, scale=2.0, shift=1.0)
                m.train()
                y = m(x)
                rec["steps"].append({"mode": "train", "x": arr(x), "y": arr(y), "state": state_record(m, nnx.BatchStat)})
            x = rand(*shape, scale=2.0, shift=1.0)
            m.eval()
            rec["steps"].append({"mode": "eval", "x": arr(x), "y": arr(m(x)), "state": state_record(m, nnx.BatchStat)})
            cases.append(rec)
    return cases


def simple_norms():
    cases = []
    configs = [
        ("LayerNorm", {"num_features": 4}, (2, 3, 4)),
        ("LayerNorm", {"num_features": 4, "use_bias": False, "epsilon": 1e-3, "scale_init": "normal"}, (5, 4)),
        ("LayerNorm", {"num_features": 4, "reduction_axes": [-2, -1], "feature_axes": -1,
                       "scale_init": "normal", "bias_init": "normal"}, (2, 3, 4)),
        ("LayerNorm", {"num_features": 3, "reduction_axes": -1, "use_fast_variance": False,
                       "bias_init": "uniform"}, (4, 3)),
        ("RMSNorm", {"num_features": 4}, (2, 3, 4)),
        ("RMSNorm", {"num_features": 5, "scale_init": "normal", "epsilon": 1e-2}, (3, 5)),
        ("RMSNorm", {"num_features": 4, "use_scale": False, "reduction_axes": [-2, -1]}, (2, 3, 4)),
        ("GroupNorm", {"num_features": 4, "num_groups": 2}, (2, 3, 4)),
        ("GroupNorm", {"num_features": 6, "num_groups": None, "group_size": 3,
                       "scale_init": "normal", "bias_init": "uniform"}, (2, 2, 2, 6)),
        ("GroupNorm", {"num_features": 32}, (2, 3, 32)),
        ("GroupNorm", {"num_features": 4, "num_groups": 4, "use_bias": False, "epsilon": 1e-3}, (3, 4)),
        ("InstanceNorm", {"num_features": 4}, (2, 3, 4)),
        ("InstanceNorm", {"num_features": 3, "feature_axes": 1, "scale_init": "normal",
                          "bias_init": "uniform"}, (2, 3, 5)),
        ("InstanceNorm", {"num_features": 5, "use_scale": False, "use_bias": False}, (2, 2, 3, 5)),
    ]
    for seed in (0, 3):
        for name, cfg, shape in configs:
            m = getattr(nnx, name)(**build_kwargs(cfg), rngs=nnx.Rngs(seed))
            x = rand(*shape, scale=1.5, shift=0.5)
            cases.append({"layer": name, "seed": seed, "config": cfg, "state": state_record(m),
                          "steps": [{"mode": "train", "x": arr(x), "y": arr(m(x))}]})
    return cases


def dropout():
    cases = []
    configs = [
        ({"rate": 0.5}, (4, 6), {"default": 0}),
        ({"rate": 0.25, "broadcast_dims": [0]}, (3, 4, 5), {"default": 1}),
        ({"rate": 0.75, "broadcast_dims": [0, 2]}, (2, 3, 4), {"default": 2}),
        ({"rate": 0.1}, (8, 8), {"params": 0, "dropout": 7}),
        ({"rate": 0.3, "rng_collection": "noise"}, (3, 5), {"default": 0, "noise": 11}),
        ({"rate": 1.0}, (2, 3), {"default": 0}),
        ({"rate": 0.0}, (2, 3), {"default": 0}),
        ({"rate": 0.5, "deterministic": True}, (2, 3), {"default": 0}),
    ]
    for cfg, shape, streams in configs:
        m = nnx.Dropout(**build_kwargs(cfg), rngs=nnx.Rngs(**streams))
        rec = {"layer": "Dropout", "streams": streams, "config": cfg, "state": state_record(m), "steps": []}
        for _ in range(3):
            x = rand(*shape)
            rec["steps"].append({"mode": "train", "x": arr(x), "y": arr(m(x)), "state": state_record(m)})
        m.eval()
        x = rand(*shape)
        rec["steps"].append({"mode": "eval", "x": arr(x), "y": arr(m(x)), "state": state_record(m)})
        cases.append(rec)
    return cases


def mha():
    cases = []
    # (config, q shape, kv shape or None, mask kind)
    configs = [
        ({"num_heads": 2, "in_features": 6}, (2, 4, 6), None, None),
        ({"num_heads": 2, "in_features": 6}, (2, 4, 6), None, "causal"),
        ({"num_heads": 2, "in_features": 6}, (2, 4, 6), None, "padding"),
        ({"num_heads": 4, "in_features": 6, "qkv_features": 8, "out_features": 7, "in_kv_features": 5},
         (2, 3, 6), (2, 5, 5), None),
        ({"num_heads": 4, "in_features": 8, "num_kv_heads": 2}, (2, 5, 8), None, "causal"),
        ({"num_heads": 2, "in_features": 4, "normalize_qk": True, "use_bias": False}, (3, 4), None, None),
        ({"num_heads": 2, "in_features": 4, "bias_init": "normal", "out_kernel_init": "normal",
          "out_bias_init": "uniform"}, (1, 2, 3, 4), None, "causal"),
        ({"num_heads": 2, "in_features": 4, "dropout_rate": 0.5, "deterministic": False}, (2, 3, 4), None, None),
        ({"num_heads": 2, "in_features": 4, "dropout_rate": 0.3, "deterministic": False,
          "broadcast_dropout": False}, (2, 3, 4), None, "causal"),
    ]
    for seed in (0, 1):
        for cfg, qs, kvs, mask_kind in configs:
            m = nnx.MultiHeadAttention(**build_kwargs(cfg), rngs=nnx.Rngs(seed))
            rec = {"layer": "MultiHeadAttention", "seed": seed, "config": cfg, "mask": mask_kind,
                   "state": state_record(m), "steps": []}
            for _ in range(2):
                xq = rand(*qs)
                xk = rand(*kvs) if kvs else None
                if mask_kind == "causal":
                    mask = nnx.make_causal_mask(jnp.ones(qs[:-1]))
                elif mask_kind == "padding":
                    tok = np.ones(qs[:-1], np.float32)
                    tok[..., -1] = 0.0
                    tok[0, -2] = 0.0
                    mask = nnx.make_attention_mask(tok, tok)
                else:
                    mask = None
                y = m(xq, xk, mask=mask, decode=False)
                step = {"mode": "train", "x": arr(xq), "y": arr(y)}
                if xk is not None:
                    step["xk"] = arr(xk)
                if mask is not None:
                    step["mask"] = arr(np.asarray(mask, bool))
                rec["steps"].append(step)
            cases.append(rec)
    return cases


def mha_decode():
    cases = []
    configs = [
        ({"num_heads": 2, "in_features": 6, "decode": True}, (2, 5, 6)),
        ({"num_heads": 4, "in_features": 8, "num_kv_heads": 2, "qkv_features": 8, "out_features": 3,
          "decode": True}, (1, 4, 8)),
        ({"num_heads": 2, "in_features": 4, "decode": True, "normalize_qk": True}, (3, 4)),
    ]
    for seed in (0, 2):
        for cfg, shape in configs:
            m = nnx.MultiHeadAttention(**build_kwargs(cfg), rngs=nnx.Rngs(seed))
            x = rand(*shape)
            # Full causal pass with the same parameters.
            full = m(x, mask=nnx.make_causal_mask(jnp.ones(shape[:-1])), decode=False)
            m.init_cache(shape)
            rec = {"layer": "MultiHeadAttentionDecode", "seed": seed, "config": cfg, "x": arr(x),
                   "full_causal": arr(full), "state": state_record(m), "steps": []}
            length = shape[-2]
            for t in range(length):
                xt = x[..., t:t + 1, :]
                yt = m(xt)
                rec["steps"].append({"y": arr(yt), "state": state_record(m, nnx.Cache)})
            cases.append(rec)
    # The documented seed: shapes of the Cache state.
    m = nnx.MultiHeadAttention(2, 3, qkv_features=6, out_features=6, decode=True, rngs=nnx.Rngs(0))
    m.init_cache((1, 3))
    seed_repr = repr(jax.tree.map(jnp.shape, nnx.state(m, nnx.Cache)))
    bn_repr = repr(jax.tree.map(jnp.shape, nnx.state(nnx.BatchNorm(3, rngs=nnx.Rngs(0)))))
    return cases, {"mha_cache_shapes": seed_repr, "batchnorm_shapes": bn_repr}


def main():
    os.makedirs(OUT, exist_ok=True)
    dec, reprs = mha_decode()
    data = {
        "flax_version": nnx.__dict__.get("__version__", None) or __import__("flax").__version__,
        "cases": batchnorm() + simple_norms() + dropout() + mha() + dec,
        "reprs": reprs,
    }
    path = os.path.join(OUT, "stateful.json")
    with open(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    print(path, os.path.getsize(path), "bytes,", len(data["cases"]), "cases")


if __name__ == "__main__":
    main()
