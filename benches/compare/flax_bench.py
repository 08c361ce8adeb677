"""Flax NNX twins of the nnx criterion benchmarks (benches/*.rs, sizes in
benches/common/mod.rs). Prints {workload id: median seconds} as JSON.

Graph operations run eagerly, as users call them. Forward passes are jax.jit-ted
pure functions of (state, input) built with split/merge (the fastest way to run an
NNX model; nnx.jit adds Python graph traversal per call), timed after warm-up with
block_until_ready. Train steps (forward, backward, adamw update) are the same kind
of jitted function of the (model, optimizer) state, which they return updated.
`train/digits_run` is the whole training run of tools/flax_reference/train_digits.py
(its `train`: data in memory, jit compilation included, nnx.jit train step and the
per-epoch test evaluation), as `examples/train_digits.rs` times its own (run.json's
`elapsed_secs`).
"""

import json
import os
import statistics
import sys
import tempfile
import time

import warnings  # noqa: E402

# Module.sow outside nnx.capture is deprecated in 0.12 but is what this benchmark times.
warnings.filterwarnings("ignore", category=DeprecationWarning)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402
from flax import traverse_util  # noqa: E402
import safetensors.numpy  # noqa: E402

GRAPH_DEPTHS = [10, 100, 1000]
GRAPH_WIDTH = 32
MLP_WIDTH, MLP_DEPTH = 512, 4
CONV_BATCH, CONV_HW, CONV_CHANNELS, CONV_LAYERS = 32, 32, 16, 3
MHA_BATCH, MHA_LEN, MHA_HEADS, MHA_FEATURES = 8, 128, 8, 512
DECODE_POSITION = 64
CKPT_LAYERS, CKPT_WIDTH = 25, 1024
RANDOM_N = 1 << 20

QUICK = os.environ.get("NNX_BENCH_QUICK") == "1"


def median_time(fn, setup=None, min_time=1.0, min_runs=10, max_runs=2000):
    """Median wall time of fn(setup()) over repeated runs (setup not timed)."""
    times = []
    deadline = time.perf_counter() + (0.2 if QUICK else min_time)
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() < deadline):
        arg = setup() if setup else None
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class Mlp(nnx.Module):
    def __init__(self, depth, width, rngs):
        self.layers = nnx.List([nnx.Linear(width, width, rngs=rngs) for _ in range(depth)])

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x)

    def sow_all(self):
        for i in range(len(self.layers)):
            self.sow(nnx.Intermediate, f"i{i}", jnp.zeros(4))


class ConvStack(nnx.Module):
    def __init__(self, rngs):
        self.convs = nnx.List([
            nnx.Conv(CONV_CHANNELS, CONV_CHANNELS, (3, 3), rngs=rngs) for _ in range(CONV_LAYERS)
        ])

    def __call__(self, x):
        for conv in self.convs[:-1]:
            x = jax.nn.relu(conv(x))
        return self.convs[-1](x)


def inp(shape):
    n = int(np.prod(shape))
    return jnp.asarray(((np.arange(n) * 7919) % 2000).astype(np.float32) / 1000.0 - 1.0).reshape(shape)


def graph_ops(out):
    for depth in GRAPH_DEPTHS:
        model = Mlp(depth, GRAPH_WIDTH, nnx.Rngs(0))
        graphdef, state = nnx.split(model)
        out[f"graph_ops/state/{depth}"] = median_time(lambda _: nnx.state(model))
        out[f"graph_ops/graphdef/{depth}"] = median_time(lambda _: nnx.graphdef(model))
        out[f"graph_ops/split/{depth}"] = median_time(lambda _: nnx.split(model))
        out[f"graph_ops/merge/{depth}"] = median_time(lambda _: nnx.merge(graphdef, state))
        out[f"graph_ops/update/{depth}"] = median_time(lambda _: nnx.update(model, state))
        out[f"graph_ops/clone/{depth}"] = median_time(lambda _: nnx.clone(model))

        def sown():
            m = nnx.merge(graphdef, state)
            m.sow_all()
            return m

        out[f"graph_ops/pop/{depth}"] = median_time(lambda m: nnx.pop(m, nnx.Intermediate), setup=sown)
        print(f"graph ops depth {depth} done", file=sys.stderr)


def jitted(model, x, runs_time=2.0):
    """Median time of a jitted pure forward of `model` on `x` (after warm-up)."""
    graphdef, state = nnx.split(model)

    @jax.jit
    def f(state, x):
        return nnx.merge(graphdef, state)(x)

    f(state, x).block_until_ready()
    return median_time(lambda _: f(state, x).block_until_ready(), min_time=runs_time)


def forward(out):
    out["forward/construct_mlp"] = median_time(lambda _: Mlp(MLP_DEPTH, MLP_WIDTH, nnx.Rngs(0)))
    mlp = Mlp(MLP_DEPTH, MLP_WIDTH, nnx.Rngs(0))
    for batch in [1, 256]:
        out[f"forward/mlp/{batch}"] = jitted(mlp, inp((batch, MLP_WIDTH)))
    out["forward/conv"] = jitted(ConvStack(nnx.Rngs(0)), inp((CONV_BATCH, CONV_HW, CONV_HW, CONV_CHANNELS)))
    mha = nnx.MultiHeadAttention(MHA_HEADS, MHA_FEATURES, decode=False, rngs=nnx.Rngs(0))
    out["forward/mha"] = jitted(mha, inp((MHA_BATCH, MHA_LEN, MHA_FEATURES)))

    dec = nnx.MultiHeadAttention(MHA_HEADS, MHA_FEATURES, decode=True, rngs=nnx.Rngs(0))
    dec.init_cache((MHA_BATCH, MHA_LEN, MHA_FEATURES))
    dec.cache_index.value = jnp.array(DECODE_POSITION, dtype=jnp.int32)
    graphdef, state = nnx.split(dec)

    # One step: the updated cache is returned (as a decode loop would carry it) but
    # every call starts again from position DECODE_POSITION.
    @jax.jit
    def step(state, x):
        m = nnx.merge(graphdef, state)
        y = m(x)
        return y, nnx.state(m)

    x = inp((MHA_BATCH, 1, MHA_FEATURES))
    jax.block_until_ready(step(state, x))
    out["forward/mha_decode"] = median_time(lambda _: jax.block_until_ready(step(state, x)), min_time=2.0)
    print("forward done", file=sys.stderr)


def random(out):
    """jax.random over RANDOM_N values (twin of nnx-core/benches/random.rs), jitted;
    the key is an argument, so nothing is constant-folded."""
    key = jax.random.key(0)
    samplers = {
        "bits_u32_1M": lambda k: jax.random.bits(k, (RANDOM_N,), jnp.uint32),
        "uniform_f32_1M": lambda k: jax.random.uniform(k, (RANDOM_N,), jnp.float32),
        "normal_f32_1M": lambda k: jax.random.normal(k, (RANDOM_N,), jnp.float32),
    }
    for name, sampler in samplers.items():
        f = jax.jit(sampler)
        f(key).block_until_ready()
        out[f"random/{name}"] = median_time(lambda _: f(key).block_until_ready(), min_time=2.0)
    print("random done", file=sys.stderr)


def checkpoint(out):
    model = Mlp(CKPT_LAYERS, CKPT_WIDTH, nnx.Rngs(0))
    state = nnx.state(model)
    path = os.path.join(tempfile.mkdtemp(), "flax-bench.safetensors")

    def save(_):
        pure = traverse_util.flatten_dict(state.to_pure_dict())
        flat = {"/".join(map(str, k)): np.asarray(v) for k, v in pure.items()}
        safetensors.numpy.save_file(flat, path)

    def load(_):
        flat = safetensors.numpy.load_file(path)
        tree = traverse_util.unflatten_dict({tuple(k.split("/")): jnp.asarray(v) for k, v in flat.items()})
        return nnx.State(tree)

    out["checkpoint/save"] = median_time(save, min_time=3.0, min_runs=5)
    out["checkpoint/load"] = median_time(load, min_time=3.0, min_runs=5)
    os.remove(path)
    print("checkpoint done", file=sys.stderr)


def train_step_time(model, x):
    """Median time of one jitted train step of `model` on `x`: loss mean(y**2),
    nnx.value_and_grad, adamw(1e-3) through nnx.Optimizer."""
    optimizer = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))

    @jax.jit
    def step(state, x):
        model, optimizer = nnx.merge(graphdef, state)
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean(m(x) ** 2))(model)
        optimizer.update(model, grads)
        return loss, nnx.state((model, optimizer))

    state = jax.block_until_ready(step(state, x))[1]
    return median_time(lambda _: jax.block_until_ready(step(state, x)), min_time=2.0)


def train(out):
    out["train/mlp/256"] = train_step_time(
        Mlp(MLP_DEPTH, MLP_WIDTH, nnx.Rngs(0)), inp((256, MLP_WIDTH))
    )
    out["train/conv"] = train_step_time(
        ConvStack(nnx.Rngs(0)), inp((CONV_BATCH, CONV_HW, CONV_HW, CONV_CHANNELS))
    )
    mha = nnx.MultiHeadAttention(MHA_HEADS, MHA_FEATURES, decode=False, rngs=nnx.Rngs(0))
    out["train/mha"] = train_step_time(mha, inp((MHA_BATCH, MHA_LEN, MHA_FEATURES)))
    out["train/digits_run"] = digits_run()
    print("train done", file=sys.stderr)


def digits_run():
    """Wall time of train_digits.py's training run (its `train`: 10 epochs of 42
    steps, each step's loss and batch accuracy read back as the twin records
    them, the per-epoch test evaluation), model construction included."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "tools", "flax_reference"))
    import train_digits as td

    x_train, x_test, y_train, y_test = td.data()
    t0 = time.perf_counter()
    model = td.DigitsCnn(nnx.Rngs(params=td.PARAMS_SEED, dropout=td.DROPOUT_SEED))
    td.train(model, x_train, y_train, x_test, y_test, log=None)
    return time.perf_counter() - t0


def main():
    out = {}
    graph_ops(out)
    forward(out)
    random(out)
    checkpoint(out)
    train(out)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
