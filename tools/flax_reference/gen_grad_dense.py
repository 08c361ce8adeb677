"""Writes reference gradients of the dense and attention ops and layers.

Ops: `jax.vjp` of two-operand `jnp.einsum` (batch, contracted, free, summed-out
and ellipsis labels), `nnx.dot_product_attention_weights` and
`nnx.dot_product_attention` (masks with fully masked rows, causal masks,
broadcast and full biases, grouped-query heads, dropout with a given keep mask,
extra batch axes), at fixed random inputs with a fixed random cotangent.

Layers: `nnx.value_and_grad` of `sum(layer(x) * cotangent)` for Linear,
LinearGeneral, Einsum, Embed (lookup and `attend`, whose gradients add on the
shared table) and MultiHeadAttention (cross-attention, masks, grouped-query
heads, normalize_qk, no bias, dropout), built from `nnx.Rngs(seed)`.
Output: nnx-tensor/tests/data/grads_dense.json (ops) and
nnx-layers/tests/data/layers/grads_dense.json (layers). Run with the Flax
environment's python:

    python tools/flax_reference/gen_grad_dense.py
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from flax.nnx.nn import attention as attn
from reference_json import arr

jax.config.update("jax_default_matmul_precision", "highest")
RNG = np.random.default_rng(20261130)
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OPS_OUT = os.path.join(ROOT, "nnx-tensor", "tests", "data", "grads_dense.json")
LAYERS_OUT = os.path.join(ROOT, "nnx-layers", "tests", "data", "layers", "grads_dense.json")


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def case(op, fn, inputs, **params):
    """`fn` applied to the named float `inputs`; vjp with a random cotangent."""
    names = list(inputs)
    out, vjp = jax.vjp(lambda *xs: fn(*xs), *[jnp.asarray(inputs[n]) for n in names])
    ct = rand(*out.shape)
    grads = vjp(jnp.asarray(ct))
    return {"op": op, "params": params, "inputs": {n: arr(inputs[n]) for n in names},
            "output": arr(out), "cotangent": arr(ct), "grads": {n: arr(g) for n, g in zip(names, grads)}}


def einsum_cases():
    specs = [
        ("ab,bc->ac", (3, 4), (4, 5)),
        ("ab,bc->ca", (3, 4), (4, 5)),
        ("ab,bc->c", (3, 4), (4, 5)),        # 'a' summed out of the lhs alone
        ("ab,bc->a", (3, 4), (4, 5)),        # 'c' summed out of the rhs alone
        ("btd,ndh->btnh", (2, 3, 4), (2, 4, 3)),
        ("nta,hab->nthb", (2, 3, 4), (3, 4, 2)),
        ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
        ("ij,kj->ik", (3, 4), (5, 4)),       # Embed.attend
        ("ab,cd->abcd", (2, 3), (4, 2)),     # outer product
        ("abc,c->ab", (2, 3, 4), (4,)),
        ("...b,bc->...c", (2, 3, 4), (4, 5)),
        ("...a,...ab->...b", (2, 3, 4), (3, 4, 5)),
        ("abcd,cde->abe", (2, 3, 2, 4), (2, 4, 3)),  # LinearGeneral over two axes
        ("abc,acd->abd", (2, 3, 4), (2, 4, 5)),      # LinearGeneral with a batch axis
    ]
    return [case("einsum", lambda a, b, s=s: jnp.einsum(s, a, b), {"a": rand(*sa), "b": rand(*sb)}, equation=s)
            for s, sa, sb in specs]


def attention_reference(q, k, v, bias, mask, causal, keep, rate):
    """Flax's weights (with its dropout formula applied to a given keep mask)
    and their product with the values, grouped-query heads repeated as Flax does."""
    w = attn.dot_product_attention_weights(q, k, bias=bias, mask=mask, is_causal=causal)
    if keep is not None:
        w = w * (jnp.broadcast_to(keep, w.shape) / (1.0 - rate))
    if v is None:
        return w
    rep = q.shape[-2] // v.shape[-2]
    v = jnp.repeat(v, rep, axis=-2)
    return jnp.einsum("...hqk,...khd->...qhd", w, v)


def attention_cases():
    out = []
    # (name, q shape, k shape, v depth, bias shape, mask shape, causal, keep shape, rate)
    configs = [
        ("plain", (2, 4, 2, 3), (2, 5, 2, 3), 4, None, None, False, None, 0.0),
        ("no batch", (3, 2, 4), (3, 2, 4), 2, None, None, False, None, 0.0),
        ("mask", (2, 4, 2, 3), (2, 5, 2, 3), 3, None, (2, 1, 4, 5), False, None, 0.0),
        ("causal", (2, 4, 2, 3), (2, 4, 2, 3), 3, None, None, True, None, 0.0),
        ("causal and mask", (1, 4, 2, 3), (1, 4, 2, 3), 2, None, (1, 2, 4, 4), True, None, 0.0),
        ("broadcast bias", (2, 4, 2, 3), (2, 5, 2, 3), 3, (1, 4, 5), None, False, None, 0.0),
        ("full bias and mask", (2, 3, 2, 3), (2, 3, 2, 3), 3, (2, 2, 3, 3), (2, 1, 3, 3), False, None, 0.0),
        ("gqa", (2, 3, 4, 3), (2, 5, 2, 3), 2, None, None, False, None, 0.0),
        ("gqa causal bias", (1, 4, 6, 2), (1, 4, 2, 2), 3, (1, 6, 4, 4), None, True, None, 0.0),
        ("dropout broadcast", (2, 4, 2, 3), (2, 5, 2, 3), 3, None, None, False, (1, 1, 4, 5), 0.25),
        ("dropout full", (2, 3, 2, 3), (2, 3, 2, 3), 2, None, (2, 1, 3, 3), False, (2, 2, 3, 3), 0.5),
        ("extra batch axes", (2, 2, 3, 2, 4), (2, 2, 4, 2, 4), 3, None, None, False, None, 0.0),
        ("large logits", (1, 3, 2, 4), (1, 3, 2, 4), 3, None, None, False, None, 0.0),
    ]
    for name, qs, ks, dv, bs, ms, causal, keep_shape, rate in configs:
        scale = 8.0 if name == "large logits" else 1.0
        q, k = rand(*qs, scale=scale), rand(*ks, scale=scale)
        v = rand(*ks[:-1], dv)
        mask = None
        if ms is not None:
            mask = RNG.random(ms) > 0.3
            mask[(0,) * (len(ms) - 2) + (0,)] = False  # a fully masked row
        keep = None if keep_shape is None else RNG.random(keep_shape) > rate
        params = {"name": name, "is_causal": causal}
        if mask is not None:
            params["mask"] = arr(mask)
        if keep is not None:
            params["keep"] = arr(keep)
            params["rate"] = rate
        inputs = {"query": q, "key": k}
        if bs is not None:
            inputs["bias"] = rand(*bs)
        mask_j = None if mask is None else jnp.asarray(mask)
        keep_j = None if keep is None else jnp.asarray(keep)

        def weights(q, k, bias=None, mask_j=mask_j, causal=causal, keep_j=keep_j, rate=rate):
            return attention_reference(q, k, None, bias, mask_j, causal, keep_j, rate)

        def attention(q, k, v, bias=None, mask_j=mask_j, causal=causal, keep_j=keep_j, rate=rate):
            return attention_reference(q, k, v, bias, mask_j, causal, keep_j, rate)

        out.append(case("attention_weights", weights, dict(inputs), **params))
        full = {"query": q, "key": k, "value": v}
        if bs is not None:
            full["bias"] = inputs["bias"]
        out.append(case("attention", attention, full, **params))
    return out


def flat(state):
    return {"/".join(map(str, p)): arr(v.get_value()) for p, v in nnx.to_flat_state(state)}


def layer_case(layer, config, seed, model, inputs, loss_fn, **extra):
    """`nnx.value_and_grad` of `loss_fn(model)` w.r.t. the Params."""
    params = flat(nnx.state(model, nnx.Param))
    loss, grads = nnx.value_and_grad(loss_fn)(model)
    return {"layer": layer, "config": config, "seed": seed, "inputs": inputs, "params": params,
            "loss": float(loss), "grads": flat(grads), **extra}


def weighted_sum(y, ct):
    return jnp.sum(y * ct)


def dense_layers():
    cases = []
    for seed, use_bias in [(0, True), (1, False)]:
        m = nnx.Linear(3, 4, use_bias=use_bias, rngs=nnx.Rngs(seed))
        x, ct = rand(2, 5, 3), rand(2, 5, 4)
        cases.append(layer_case("Linear", {"in_features": 3, "out_features": 4, "use_bias": use_bias}, seed, m,
                                {"x": arr(x), "ct": arr(ct)}, lambda m: weighted_sum(m(x), ct)))
    lg_configs = [
        ({"in_features": [2, 3], "out_features": [4], "axis": [-2, -1], "batch_axis": [], "use_bias": True},
         (5, 2, 3), (5, 4)),
        ({"in_features": [3], "out_features": [2, 4], "axis": [-1], "batch_axis": [], "use_bias": True},
         (2, 5, 3), (2, 5, 2, 4)),
        ({"in_features": [3], "out_features": [4], "axis": [-1], "batch_axis": [[0, 2]], "use_bias": True},
         (2, 5, 3), (2, 5, 4)),
        ({"in_features": [2], "out_features": [3], "axis": [1], "batch_axis": [], "use_bias": False},
         (4, 2, 5), (4, 5, 3)),
    ]
    for i, (c, xs, ys) in enumerate(lg_configs):
        m = nnx.LinearGeneral(tuple(c["in_features"]), tuple(c["out_features"]), axis=tuple(c["axis"]),
                              batch_axis={a: s for a, s in c["batch_axis"]}, use_bias=c["use_bias"],
                              rngs=nnx.Rngs(i))
        x, ct = rand(*xs), rand(*ys)
        cases.append(layer_case("LinearGeneral", c, i, m, {"x": arr(x), "ct": arr(ct)},
                                lambda m: weighted_sum(m(x), ct)))
    es_configs = [
        ({"einsum_str": "nta,hab->nthb", "kernel_shape": [3, 4, 2], "bias_shape": [3, 2]}, (2, 5, 4), (2, 5, 3, 2)),
        ({"einsum_str": "ab,bc->ac", "kernel_shape": [4, 3], "bias_shape": None}, (5, 4), (5, 3)),
        ({"einsum_str": "...a,ab->...b", "kernel_shape": [4, 3], "bias_shape": [3]}, (2, 3, 4), (2, 3, 3)),
    ]
    for i, (c, xs, ys) in enumerate(es_configs):
        bias = None if c["bias_shape"] is None else tuple(c["bias_shape"])
        m = nnx.Einsum(c["einsum_str"], tuple(c["kernel_shape"]), bias, rngs=nnx.Rngs(i))
        if bias is not None:
            # Flax initializes the bias to zeros; a random one exercises the broadcast.
            m.bias.set_value(jnp.asarray(rand(*bias)))
        x, ct = rand(*xs), rand(*ys)
        cases.append(layer_case("Einsum", c, i, m, {"x": arr(x), "ct": arr(ct)},
                                lambda m: weighted_sum(m(x), ct)))
    m = nnx.Embed(6, 3, rngs=nnx.Rngs(0))
    ids = np.array([[0, 5, 5], [2, 0, 1]], np.int32)
    q = rand(4, 3)
    ct, ct_attend = rand(2, 3, 3), rand(4, 6)
    cases.append(layer_case("Embed", {"num_embeddings": 6, "features": 3}, 0, m,
                            {"ids": arr(ids), "query": arr(q), "ct": arr(ct), "ct_attend": arr(ct_attend)},
                            lambda m: weighted_sum(m(ids), ct) + weighted_sum(m.attend(q), ct_attend)))
    return cases


def mha_layers():
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
        ({"num_heads": 2, "in_features": 4, "dropout_rate": 0.5, "deterministic": False}, (2, 3, 4), None, None),
        ({"num_heads": 2, "in_features": 4, "dropout_rate": 0.3, "deterministic": False,
          "broadcast_dropout": False}, (2, 3, 4), None, "causal"),
    ]
    for seed, (cfg, qs, kvs, mask_kind) in enumerate(configs):
        m = nnx.MultiHeadAttention(**cfg, rngs=nnx.Rngs(seed))
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
        out_shape = qs[:-1] + (cfg.get("out_features", cfg["in_features"]),)
        ct = rand(*out_shape)
        inputs = {"x": arr(xq), "ct": arr(ct)}
        if xk is not None:
            inputs["xk"] = arr(xk)
        if mask is not None:
            inputs["mask"] = arr(np.asarray(mask, bool))

        def loss_fn(m, xq=xq, xk=xk, mask=mask, ct=ct):
            return weighted_sum(m(xq, xk, mask=mask, decode=False), ct)

        cases.append(layer_case("MultiHeadAttention", cfg, seed, m, inputs, loss_fn))
    return cases


def main():
    ops = einsum_cases() + attention_cases()
    for path, data in [(OPS_OUT, {"ops": ops}), (LAYERS_OUT, {"cases": dense_layers() + mha_layers()})]:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        print(path, os.path.getsize(path))


if __name__ == "__main__":
    main()
