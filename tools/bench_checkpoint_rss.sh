#!/usr/bin/env bash
# Peak RSS of saving and loading a ~512 MiB checkpoint (four f32 arrays).
# Usage: tools/bench_checkpoint_rss.sh [MIB]   (needs /usr/bin/time: apt-get install time)
set -euo pipefail
MIB=${1:-512}
cd "$(dirname "$0")/.."
cargo build --release -p nnx-core --example checkpoint_rss
BIN=${CARGO_TARGET_DIR:-target}/release/examples/checkpoint_rss
FILE=$(mktemp -d)/bench.safetensors
trap 'rm -rf "$(dirname "$FILE")"' EXIT
for step in "save $FILE $MIB" "load $FILE"; do
  /usr/bin/time -v "$BIN" $step 2> time.log.$$ || { cat time.log.$$; exit 1; }
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' time.log.$$)
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' time.log.$$)
  rm -f time.log.$$
  echo "${step%% *}: file $(( $(stat -c %s "$FILE") >> 20 )) MiB, peak RSS $(( rss >> 10 )) MiB, wall $wall"
done
