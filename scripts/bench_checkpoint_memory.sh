#!/usr/bin/env bash
# Peak memory and checkpoint cost with 10 M keys of state on timely (2
# workers): bench_grouping's stateful variant (value state and a timer per
# key; nothing fires before the end of the bounded input, so every key stays
# in state), without checkpoints and with a checkpoint every INTERVAL.
# Prints wall time, peak RSS, and per checkpoint its size and how long after
# its epoch ended it was published. PAIRS, KEYS, INTERVAL, VARIANT choose.
set -euo pipefail
BIN=${BIN:-target/release/bench_grouping}
PAIRS=${PAIRS:-20000000}
KEYS=${KEYS:-10000000}
INTERVAL=${INTERVAL:-3s}
VARIANT=${VARIANT:-stateful}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
run() {
  /usr/bin/time -f "%e s, peak RSS %M KB" "$BIN" --pairs "$PAIRS" --keys "$KEYS" --only "$VARIANT" \
    --runner timely --workers 2 "$@" 2>&1 | grep -E "peak RSS|error" || true
}
echo "off: $(run)"
echo "every $INTERVAL: $(run --checkpoint-dir "$DIR/ck" --checkpoint-interval "$INTERVAL" --retain-checkpoints 1000)"
python3 - "$DIR/ck" <<'PY'
import glob, json, os, sys
for d in sorted(glob.glob(os.path.join(sys.argv[1], "chk-*"))):
    m = json.load(open(os.path.join(d, "MANIFEST.json")))
    size = sum(p["part"]["len"] for p in m["parts"] if p["part"])
    print(f"  checkpoint {m['epoch']}: {size/1e6:.0f} MB, published "
          f"{m['written_unix_ms'] - m['epoch_end_unix_ms']} ms after its epoch ended")
PY
