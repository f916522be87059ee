#!/usr/bin/env bash
# Word count of a corpus in Polars (installed from PyPI into bench-data/venv),
# then the rayon runner's wordcount on the same corpus, in one invocation.
#
#   bash scripts/bench_polars.sh bench-data/corpus-1g.txt
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:?usage: scripts/bench_polars.sh CORPUS}
threads=${THREADS:-2}
venv=bench-data/venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet polars
fi
cargo build --release --quiet -p examples --bin wordcount
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for run in 1 2 3; do
    POLARS_MAX_THREADS=$threads "$venv/bin/python" examples/benchmarks/polars_wordcount.py "$corpus" "$out/polars.txt"
    TIMEFORMAT="rayon runner: %R s"
    time target/release/wordcount --runner rayon --parallelism "$threads" \
        --input "$corpus" --output "$out/rayon" --num-shards 1
done
LC_ALL=C sort "$out"/rayon-00000-of-00001* > "$out/rayon.txt"
if cmp -s "$out/polars.txt" "$out/rayon.txt"; then
    echo "outputs identical"
else
    echo "outputs differ:" >&2
    diff "$out/polars.txt" "$out/rayon.txt" | head >&2
    exit 1
fi
