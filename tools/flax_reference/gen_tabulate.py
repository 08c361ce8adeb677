"""Tabulate a small model with real Flax NNX, as `nnx.tabulate(model, x)` shows it.

Run:  python tools/flax_reference/gen_tabulate.py
Writes tests/data/summary/tabulate_calls.txt, which tests/summary.rs compares,
column by column, with `nnx::summary::tabulate_with` on the same model: two
blocks of Linear, BatchNorm (training mode) and Dropout; one Linear called
twice with the same input shape (one row) and once with another (a second
row); a Sequential with an activation (a function, no row); `Embed.attend` (a
method other than `__call__`: path `embed/attend`); a Linear never called (no
row); a tuple output. Also tests/data/summary/tabulate_attention.txt: a
MultiHeadAttention called with a query, a key and a mask (positional inputs as
a list, then the keyword).
"""
import os

import jax.numpy as jnp
from flax import nnx


class Block(nnx.Module):
    def __init__(self, din, dout, rngs):
        self.linear = nnx.Linear(din, dout, rngs=rngs)
        self.bn = nnx.BatchNorm(dout, rngs=rngs)
        self.dropout = nnx.Dropout(0.2, rngs=rngs)

    def __call__(self, x):
        return nnx.relu(self.dropout(self.bn(self.linear(x))))


class Net(nnx.Module):
    def __init__(self, rngs):
        self.block1 = Block(4, 8, rngs)
        self.block2 = Block(8, 2, rngs)
        self.proj = nnx.Linear(2, 2, rngs=rngs)
        self.head = nnx.Sequential(
            nnx.Linear(2, 3, rngs=rngs), nnx.relu, nnx.Linear(3, 1, rngs=rngs)
        )
        self.embed = nnx.Embed(5, 2, rngs=rngs)
        self.unused = nnx.Linear(2, 2, rngs=rngs)

    def __call__(self, x):
        y = self.block2(self.block1(x))
        y = self.proj(self.proj(y))
        z = self.proj(y[None])
        return self.head(y), z, self.embed.attend(y)


DATA = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "summary")
PLAIN = {"force_terminal": False, "width": 200}


def write(name, table):
    with open(os.path.join(DATA, name), "w") as f:
        f.write("\n".join(line.rstrip() for line in table.splitlines()).strip("\n") + "\n")


write("tabulate_calls.txt", nnx.tabulate(Net(nnx.Rngs(0)), jnp.ones((3, 4)), console_kwargs=PLAIN))
mha = nnx.MultiHeadAttention(num_heads=2, in_features=4, decode=False, rngs=nnx.Rngs(0))
write(
    "tabulate_attention.txt",
    nnx.tabulate(
        mha,
        jnp.ones((1, 3, 4)),
        jnp.ones((1, 5, 4)),
        mask=jnp.ones((1, 2, 3, 5), bool),
        console_kwargs=PLAIN,
    ),
)
