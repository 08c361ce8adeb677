#!/usr/bin/env bash
# Runs the same workloads in Flax NNX (benches/compare/flax_bench.py) and in nnx
# (the criterion benches in benches/ and nnx-core/benches/random.rs, the digits
# training run of examples/train_digits.rs, the checkpoint peak-memory check of
# tools/bench_checkpoint_rss.sh), then writes the side-by-side table, with the
# performance targets, to BENCHMARKS.md. Usage: benches/compare/run.sh
#
# Estimated 6-8 minutes on a quiet 2-core machine once the release build is done (a
# cold build adds about 10). Run it on a quiet machine: both sides are timed
# one after the other, and anything else running skews the ratios.
#
# NNX_BENCH_QUICK=1 runs everything briefly (a smoke test of the pipeline; the
# figures mean nothing).
#
# Python: a venv in benches/compare/.venv with flax, safetensors and scikit-learn
# (created on first use, completed if a package is missing); set
# FLAX_PYTHON=/path/to/python to use an existing environment instead.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

python=${FLAX_PYTHON:-}
if [ -z "$python" ]; then
    venv="$here/.venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    python="$venv/bin/python"
    if ! "$python" -c "import flax, optax, safetensors, sklearn" 2>/dev/null; then
        "$venv/bin/pip" install --quiet flax safetensors scikit-learn
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Criterion writes into a fresh directory, so that the report sees this run's
# results only (never a stale one of a benchmark renamed or not run).
export CRITERION_HOME="$work/criterion"
benches=(--bench graph_ops --bench forward --bench checkpoint --bench train)
criterion_args=()
rss_mib=512
if [ "${NNX_BENCH_QUICK:-}" = 1 ]; then
    criterion_args=(-- --warm-up-time 0.1 --measurement-time 0.2 --sample-size 10)
    rss_mib=32
fi

echo "== building nnx (release)" >&2
cargo bench "${benches[@]}" --no-run >&2
cargo bench -p nnx-core --bench random --no-run >&2
cargo build --release --example train_digits >&2

# One side at a time: the machine's cores are shared by both.
echo "== Flax NNX ($python)" >&2
"$python" "$here/flax_bench.py" > "$work/flax.json"

echo "== nnx (cargo bench)" >&2
cargo bench "${benches[@]}" "${criterion_args[@]}" >&2
cargo bench -p nnx-core --bench random "${criterion_args[@]}" >&2

echo "== nnx (digits training run)" >&2
# The example exits non-zero if its run no longer reproduces Flax's; the time
# is still that of the whole run, so keep it and say so.
if ! cargo run --release --example train_digits -- --quiet --every 0 \
    --checkpoint-dir "$work/digits" >&2; then
    echo "warning: train_digits did not reproduce Flax's run (its time is reported all the same)" >&2
fi
"$python" -c 'import json, sys
print(json.dumps({"train/digits_run": json.load(open(sys.argv[1]))["elapsed_secs"]}))' \
    "$work/digits/run.json" > "$work/nnx_extra.json"

rss_args=()
if [ -x /usr/bin/time ]; then
    echo "== nnx (checkpoint peak memory)" >&2
    tools/bench_checkpoint_rss.sh "$rss_mib" | tee "$work/rss.txt" >&2
    rss_args=(--checkpoint-rss "$work/rss.txt")
else
    echo "note: /usr/bin/time missing, checkpoint peak memory not measured" >&2
fi

"$python" "$here/report.py" --flax "$work/flax.json" --criterion "$CRITERION_HOME" \
    --nnx-extra "$work/nnx_extra.json" "${rss_args[@]}" > "$work/BENCHMARKS.md"
cp "$work/BENCHMARKS.md" "$root/BENCHMARKS.md"
cat "$root/BENCHMARKS.md"
