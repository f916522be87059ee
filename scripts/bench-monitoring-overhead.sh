#!/usr/bin/env bash
# The cost of the per-bundle step metrics: the rayon word count and Nexmark
# q5 on timely, alternately with step metrics on and off (--no-step-metrics),
# in one invocation. Prints one wall time per run.
# Needs: cargo build --release -p examples --bin wordcount --bin nexmark
#        and bench-data/corpus.txt (gen_corpus --size-mb 100).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
events=${EVENTS:-8000000}
time_of() {
  local s e
  s=$(date +%s.%N)
  "$@" >/dev/null
  e=$(date +%s.%N)
  echo "$e - $s" | bc
}
for _ in $(seq "$rounds"); do
  for mode in on off; do
    flag=()
    [ "$mode" = off ] && flag=(--no-step-metrics)
    echo "wordcount $mode $(time_of target/release/wordcount --runner rayon --parallelism 2 \
      --input bench-data/corpus.txt --output /tmp/beam-overhead-wc --num-shards 1 "${flag[@]}")"
    echo "q5 $mode $(time_of target/release/nexmark --query 5 --runner timely --workers 2 \
      --events "$events" "${flag[@]}")"
  done
done
