"""Train a tiny decoder-only transformer to add two-digit numbers: the Flax
run that `cargo run --release --example train_sums` reproduces in Rust.

The data is generated, not downloaded: every pair `a + b` with `a, b` in
0..=99 is written as the characters `"ab+cd="` followed by the sum's three
digits least-significant first (`12+34=` then `640` for 046: a carry then
only ever depends on digits already written). Tokens: `0`-`9` are 0-9, `+` is
10, `=` is 11. The model reads the first 8 tokens and predicts the next ones;
the loss and accuracy count the 3 answer digits only.

Which pairs are held out, and the batch order, come from JAX's PRNG, which
`nnx::random` reproduces bit for bit: the held-out pairs are the first
`HELD_OUT` of `jax.random.permutation(key(SPLIT_SEED), 10000)` (pair index
`100 * a + b`), and epoch `e` visits the training pairs in the order
`jax.random.permutation(fold_in(key(SHUFFLE_SEED), e), n_train)`.

Model: token `nnx.Embed(12, D)` + position `nnx.Embed(8, D)`, `LAYERS`
pre-LayerNorm blocks (causal `nnx.MultiHeadAttention` with `HEADS` heads, MLP
`D -> 4D -> D` with GELU), a final `nnx.LayerNorm`, and logits from the token
embedding (`embed.attend`: tied weights). Parameters from `nnx.Rngs(0)`.
Generation is greedy through the attention decode cache (`decode=True`,
`init_cache`), one token at a time.

Writes `examples/data/sums/flax_training.json` (or into argv[1]): the
configuration, every step's loss and answer-digit accuracy, per-epoch metrics
(held-out loss and exact-match accuracy of greedy generation), and a few
generated examples; and `init.safetensors`, the State right after
construction.

Run: `python3 tools/flax_reference/train_sums.py` (needs flax, optax,
safetensors).
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

import flax
from flax import nnx

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from export_safetensors import export_state  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples/data/sums"

# The defaults of `examples/train_sums.rs`.
D = 64
HEADS = 4
LAYERS = 2
VOCAB = 12
SEQ = 9  # "ab+cd=" + 3 answer digits
PROMPT = 6
EPOCHS = 4
BATCH = 64
PEAK_LR = 3e-3
WARMUP_STEPS = 50
END_LR = 1e-5
WEIGHT_DECAY = 1e-2
PARAMS_SEED = 0
SPLIT_SEED = 1
SHUFFLE_SEED = 2
HELD_OUT = 1000


class Block(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.ln1 = nnx.LayerNorm(D, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(HEADS, D, decode=False, rngs=rngs)
        self.ln2 = nnx.LayerNorm(D, rngs=rngs)
        self.mlp_in = nnx.Linear(D, 4 * D, rngs=rngs)
        self.mlp_out = nnx.Linear(4 * D, D, rngs=rngs)

    def __call__(self, x, mask):
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.mlp_out(nnx.gelu(self.mlp_in(self.ln2(x))))


class Transformer(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.embed = nnx.Embed(VOCAB, D, rngs=rngs)
        self.pos = nnx.Embed(SEQ - 1, D, rngs=rngs)
        self.blocks = nnx.List([Block(rngs) for _ in range(LAYERS)])
        self.ln = nnx.LayerNorm(D, rngs=rngs)

    def __call__(self, tokens, positions, mask=None):
        x = self.embed(tokens) + self.pos(positions)
        for block in self.blocks:
            x = block(x, mask)
        return self.embed.attend(self.ln(x))


def pair_tokens(pairs: np.ndarray) -> np.ndarray:
    """(n, 9) int32 token rows for pair indices `100 * a + b`."""
    a, b = pairs // 100, pairs % 100
    s = a + b
    cols = [a // 10, a % 10, np.full_like(a, 10), b // 10, b % 10, np.full_like(a, 11)]
    cols += [s % 10, (s // 10) % 10, s // 100]
    return np.stack(cols, axis=1).astype(np.int32)


def split():
    order = np.asarray(jax.random.permutation(jax.random.key(SPLIT_SEED), 100 * 100))
    return order[HELD_OUT:], order[:HELD_OUT]


def loss_fn(model, tokens):
    x, y = tokens[:, :-1], tokens[:, 1:]
    positions = jnp.arange(SEQ - 1)[None, :]
    mask = nnx.make_causal_mask(x)
    logits = model(x, positions, mask)
    answer = jnp.arange(SEQ - 1) >= PROMPT - 1  # predicting the answer digits
    per_token = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    weights = jnp.broadcast_to(answer, per_token.shape).astype(jnp.float32)
    loss = (per_token * weights).sum() / weights.sum()
    return loss, logits


@nnx.jit
def train_step(model, optimizer, tokens):
    (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, tokens)
    optimizer.update(model, grads)
    return loss, logits


def answer_accuracy(logits, tokens):
    pred = np.asarray(logits).argmax(-1)[:, PROMPT - 1 :]
    return float((pred == np.asarray(tokens)[:, PROMPT:]).mean())


def generate(model, prompts):
    """Greedy answers (n, 3) for prompts (n, 6), one token at a time through
    the decode cache."""
    n = prompts.shape[0]
    model.set_attributes(decode=True)
    for block in model.blocks:
        block.attn.init_cache((n, SEQ - 1, D))
    out = []
    tok = prompts[:, :1]
    for t in range(SEQ - 1):
        logits = model(tok, jnp.full((1, 1), t, jnp.int32))
        nxt = jnp.argmax(logits[:, -1], axis=-1).astype(jnp.int32)[:, None]
        if t + 1 < PROMPT:
            tok = prompts[:, t + 1 : t + 2]
        else:
            out.append(nxt)
            tok = nxt
    model.set_attributes(decode=False)
    nnx.pop(model, nnx.Cache)
    return np.asarray(jnp.concatenate(out, axis=1))


def evaluate(model, held):
    tokens = pair_tokens(held)
    loss, _ = loss_fn(model, jnp.asarray(tokens))
    answers = generate(model, jnp.asarray(tokens[:, :PROMPT]))
    exact = float((answers == tokens[:, PROMPT:]).all(axis=1).mean())
    return float(loss), exact, answers


def show(tokens_row, answer):
    a = tokens_row[0] * 10 + tokens_row[1]
    b = tokens_row[3] * 10 + tokens_row[4]
    s = answer[0] + 10 * answer[1] + 100 * answer[2]
    return f"{a}+{b}={s}"


def main():
    train, held = split()
    model = Transformer(nnx.Rngs(PARAMS_SEED))
    OUT.mkdir(parents=True, exist_ok=True)
    export_state(nnx.state(model), OUT / "init.safetensors")
    steps_per_epoch = len(train) // BATCH
    total = EPOCHS * steps_per_epoch
    lr = optax.warmup_cosine_decay_schedule(0.0, PEAK_LR, WARMUP_STEPS, total, END_LR)
    optimizer = nnx.Optimizer(
        model, optax.adamw(lr, weight_decay=WEIGHT_DECAY), wrt=nnx.Param
    )
    steps, epochs = [], []
    for epoch in range(EPOCHS):
        order = np.asarray(
            jax.random.permutation(jax.random.fold_in(jax.random.key(SHUFFLE_SEED), epoch), len(train))
        )
        losses, accs = [], []
        for b in range(steps_per_epoch):
            tokens = pair_tokens(train[order[b * BATCH : (b + 1) * BATCH]])
            step = len(steps)
            loss, logits = train_step(model, optimizer, jnp.asarray(tokens))
            acc = answer_accuracy(logits, tokens)
            steps.append({"loss": float(loss), "accuracy": acc, "learning_rate": float(lr(step))})
            losses.append(float(loss))
            accs.append(acc)
        held_loss, exact, answers = evaluate(model, held)
        epochs.append(
            {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)),
                "train_accuracy": float(np.mean(accs)),
                "held_out_loss": held_loss,
                "held_out_exact_match": exact,
            }
        )
        print(
            f"epoch {epoch + 1}: loss {np.mean(losses):.4f} acc {np.mean(accs):.4f} | "
            f"held-out loss {held_loss:.4f} exact match {exact:.4f}"
        )
    held_tokens = pair_tokens(held)
    examples = [show(held_tokens[i], answers[i]) for i in range(8)]
    print("examples:", ", ".join(examples))
    training = {
        "config": {
            "d_model": D,
            "heads": HEADS,
            "layers": LAYERS,
            "epochs": EPOCHS,
            "batch": BATCH,
            "steps_per_epoch": steps_per_epoch,
            "peak_lr": PEAK_LR,
            "warmup_steps": WARMUP_STEPS,
            "end_lr": END_LR,
            "weight_decay": WEIGHT_DECAY,
            "params_seed": PARAMS_SEED,
            "split_seed": SPLIT_SEED,
            "shuffle_seed": SHUFFLE_SEED,
            "held_out": HELD_OUT,
        },
        "versions": {"flax": flax.__version__, "jax": jax.__version__, "optax": optax.__version__},
        "held_out_head": held[:16].tolist(),
        "steps": steps,
        "epochs": epochs,
        "held_out_exact_match": epochs[-1]["held_out_exact_match"],
        "examples": examples,
    }
    (OUT / "flax_training.json").write_text(json.dumps(training) + "\n")


if __name__ == "__main__":
    main()
