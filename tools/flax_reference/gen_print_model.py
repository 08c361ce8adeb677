"""Print a small model with real Flax NNX, as `print(model)` shows it.

Run:  python tools/flax_reference/gen_print_model.py
Writes tests/data/summary/print_model.txt, which tests/summary.rs compares with
`nnx::display` on the same model (Linear, BatchNorm, Dropout, Linear, and one
Linear reachable through two attributes).
"""
import os
import re

from flax import nnx


class Mlp(nnx.Module):
    def __init__(self, rngs):
        tied = nnx.Linear(1, 1, rngs=rngs)
        self.l1 = nnx.Linear(2, 3, rngs=rngs)
        self.bn = nnx.BatchNorm(3, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.l2 = nnx.Linear(3, 1, rngs=rngs)
        self.again = tied
        self.tied = tied


OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "summary", "print_model.txt")
with open(OUT, "w") as f:
    # Function addresses change from run to run.
    f.write(re.sub(r" at 0x[0-9a-f]+", "", repr(Mlp(nnx.Rngs(0)))) + "\n")
