#!/usr/bin/env bash
# Runs the same workloads in Flax NNX (benches/compare/flax_bench.py) and in nnx
# (the criterion benches in benches/), then writes the side-by-side table to
# BENCHMARKS.md. Usage: benches/compare/run.sh
#
# Python: a venv in benches/compare/.venv with flax (created on first use); set
# FLAX_PYTHON=/path/to/python to use an existing environment instead.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

python=${FLAX_PYTHON:-}
if [ -z "$python" ]; then
    venv="$here/.venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet flax safetensors
    fi
    python="$venv/bin/python"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One side at a time: the machine's cores are shared by both.
echo "== Flax NNX ($python)" >&2
"$python" "$here/flax_bench.py" > "$work/flax.json"

echo "== nnx (cargo bench)" >&2
cd "$root"
cargo bench --bench graph_ops --bench forward --bench checkpoint >&2
cargo bench -p nnx-core --bench random >&2
target=${CARGO_TARGET_DIR:-$root/target}

"$python" "$here/report.py" --flax "$work/flax.json" --criterion "$target/criterion" \
    > "$root/BENCHMARKS.md"
cat "$root/BENCHMARKS.md"
