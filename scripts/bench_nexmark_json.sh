#!/usr/bin/env bash
# Nexmark q5 (hottest auction per 10 s window sliding by 2 s) over one
# JSON-lines file of Nexmark events, in one invocation: the hand-written
# timely program from ../shared/baselines, then bench_nexmark_json on the
# timely runner (the read with an event-time watermark; with the default
# allocator, mimalloc, and with the system allocator; and once without the
# watermark), alternating, 3 runs each; every output is compared with the
# baseline's. Prints wall time and peak RSS (getrusage) per run.
#
#   bash scripts/bench_nexmark_json.sh [BIDS] [WORKERS]
set -euo pipefail
cd "$(dirname "$0")/.."
bids=${1:-5000000}
workers=${2:-2}
mkdir -p bench-data
data=bench-data/nexmark-$bids.jsonl
CARGO_TARGET_DIR=target/baselines cargo build --release --quiet \
    --manifest-path ../shared/baselines/rust-baselines/Cargo.toml
[ -f "$data" ] || target/baselines/release/gen nexmark "$data" "$bids"
cargo build --release --quiet -p examples --bin bench_nexmark_json --features system-allocator
cp target/release/bench_nexmark_json target/release/bench_nexmark_json-system-allocator
cargo build --release --quiet -p examples --bin bench_nexmark_json
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
measure() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.time()
r = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
el = time.time() - t
if r.returncode != 0:
    sys.exit(f"{sys.argv[1]} failed: {r.stderr.decode()[-2000:]}")
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{sys.argv[1]:<40} {el:6.2f} s  peak {peak:5.0f} MB")
PY
}
same() {
    if ! cat "$out/$1"/q5-* | sort | cmp -s - "$out/baseline.sorted"; then
        echo "$1: the output differs from the baseline's" >&2
        exit 1
    fi
}
for run in 1 2 3; do
    measure "hand-written timely (-w $workers)" \
        target/baselines/release/nexmark_timely q5 "$data" "$out/baseline" -w "$workers"
    sort "$out/baseline" > "$out/baseline.sorted"
    for variant in watermark system-allocator no-watermark; do
        rm -rf "${out:?}/$variant" && mkdir "$out/$variant"
        bin=target/release/bench_nexmark_json
        flags=()
        case $variant in
            system-allocator) bin=target/release/bench_nexmark_json-system-allocator ;;
            no-watermark) flags=(--no-event-time-watermark) ;;
        esac
        measure "pipeline, $variant" "$bin" --input "$data" --output "$out/$variant/q5" \
            --runner timely --workers "$workers" "${flags[@]}"
        same "$variant"
    done
done
