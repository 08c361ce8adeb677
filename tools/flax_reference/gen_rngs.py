"""Generates nnx-core/tests/data/rngs/rngs.json from real Flax (the oracle).

Run with the Flax venv:  python tools/flax_reference/gen_rngs.py

Keys are stored as their two uint32 words (`jax.random.key_data`). Each case
records the calls made, the keys they returned, the streams' final key data and
counts, and `str(nnx.state(rngs))`.
"""
import json
import os

import flax
import jax
import numpy as np
from flax import nnx

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "nnx-core", "tests", "data", "rngs")


def kd(k):
    return [int(v) for v in np.asarray(jax.random.key_data(k)).reshape(-1)]


def streams(rngs):
    return {
        name: {"key": kd(s.key[...]), "count": int(s.count[...])}
        for name, s in sorted(rngs.items())
    }


def draw(rngs, calls):
    # "" stands for rngs() (the default stream).
    return [kd(rngs() if c == "" else getattr(rngs, c)()) for c in calls]


def snapshot(rngs):
    return {"streams": streams(rngs), "state": str(nnx.state(rngs))}


def main():
    cases = []

    # Sequences of draws from fresh Rngs.
    for seeds, calls in [
        ({"default": 0}, ["", "", "", "params", "dropout"]),
        ({"default": 42, "dropout": 1}, ["params", "dropout", "default", "params", "dropout", ""]),
        ({"params": 0, "dropout": 1}, ["params", "params", "dropout"]),
        ({"default": -1, "params": 2**31 + 7}, ["params", "", "params"]),
    ]:
        default = seeds.get("default")
        rest = {k: v for k, v in seeds.items() if k != "default"}
        rngs = nnx.Rngs(default, **rest)
        before = snapshot(rngs)
        keys = draw(rngs, calls)
        cases.append({"op": "draw", "seeds": seeds, "calls": calls, "keys": keys,
                      "before": before, "after": snapshot(rngs)})

    # fork: every stream forked, then draws from parent and child.
    rngs = nnx.Rngs(0, params=1)
    draw(rngs, ["params"])
    child = rngs.fork()
    cases.append({"op": "fork", "seeds": {"default": 0, "params": 1}, "pre_calls": ["params"],
                  "parent": snapshot(rngs), "child": snapshot(child),
                  "child_keys": draw(child, ["params", ""]), "parent_keys": draw(rngs, ["params", ""])})

    # split(k): every stream split; key data of shape (k, 2).
    rngs = nnx.Rngs(params=0, dropout=1)
    draw(rngs, ["dropout"])
    parts = rngs.split(3)
    cases.append({"op": "split", "seeds": {"params": 0, "dropout": 1}, "pre_calls": ["dropout"],
                  "k": 3, "parent": snapshot(rngs),
                  "parts": {name: np.asarray(jax.random.key_data(s.key[...])).astype(np.int64).tolist()
                            for name, s in sorted(parts.items())}})

    # split({'params': k}): only params split (the passthrough stream is not
    # recorded: Flax rewinds its counter, which nnx deliberately does not).
    rngs = nnx.Rngs(params=0, dropout=1)
    parts = rngs.split({"params": 2})
    cases.append({"op": "split_only", "seeds": {"params": 0, "dropout": 1}, "only": "params", "k": 2,
                  "parent": snapshot(rngs),
                  "parts": {"params": np.asarray(jax.random.key_data(parts.params.key[...])).astype(np.int64).tolist()}})

    # reseed: nnx.reseed on an Rngs after some draws.
    rngs = nnx.Rngs(params=0, dropout=42)
    draw(rngs, ["dropout", "dropout", "params"])
    nnx.reseed(rngs, dropout=7)
    cases.append({"op": "reseed", "seeds": {"params": 0, "dropout": 42},
                  "pre_calls": ["dropout", "dropout", "params"], "reseed": {"dropout": 7},
                  "after": snapshot(rngs), "keys": draw(rngs, ["dropout", "params"])})

    # repr(Rngs): streams given in sorted order (nnx prints them sorted).
    for seeds in [{"default": 42}, {"dropout": 1, "params": 2**32 - 1}]:
        default = seeds.get("default")
        rest = {k: v for k, v in seeds.items() if k != "default"}
        rngs = nnx.Rngs(default, **rest)
        draw(rngs, sorted(seeds))
        cases.append({"op": "repr", "seeds": seeds, "pre_calls": sorted(seeds), "repr": repr(rngs)})

    os.makedirs(OUT, exist_ok=True)
    meta = {"flax": flax.__version__, "jax": jax.__version__}
    with open(os.path.join(OUT, "rngs.json"), "w") as f:
        json.dump({"meta": meta, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
