#!/usr/bin/env bash
# Nexmark q5 and q7 on timely with 2 workers, as a stream at full speed
# (--rate above what the machine reaches): checkpoints off, every 5 s and
# every 1 s, runs alternating. Prints throughput, checkpoints published, the
# size of the largest one and how long after their epochs ended they were
# published.
# QUERIES="5 7" and EVENTS, REPS choose the runs.
# BASE=path/to/another/nexmark adds that build's runs (checkpoints off) first.
set -euo pipefail
NEW=${NEW:-target/release/nexmark}
EVENTS=${EVENTS:-20000000}
REPS=${REPS:-3}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
configs=(off 5s 1s)
if [[ -n "${BASE:-}" ]]; then configs=(base "${configs[@]}"); fi
for q in ${QUERIES:-5 7}; do
  for rep in $(seq "$REPS"); do
    for cfg in "${configs[@]}"; do
      rm -rf "$DIR/ck"
      case $cfg in
        base) cmd=("$BASE") ;;
        off) cmd=("$NEW") ;;
        *) cmd=("$NEW" --checkpoint-dir "$DIR/ck" --checkpoint-interval "$cfg" --retain-checkpoints 100000) ;;
      esac
      line=$("${cmd[@]}" --query "$q" --runner timely --workers 2 --events "$EVENTS" --rate 100000000 2>&1 | grep 'events/s')
      rate=$(sed -E 's/.* ([0-9]+) events\/s.*/\1/' <<<"$line")
      info="-"
      if [[ -d "$DIR/ck" ]]; then
        info=$(python3 - "$DIR/ck" <<'PY'
import glob, json, os, statistics, sys
sizes, delays = [], []
for d in sorted(glob.glob(os.path.join(sys.argv[1], "chk-*"))):
    if d.endswith(".tmp"):
        continue
    m = json.load(open(os.path.join(d, "MANIFEST.json")))
    size = sum(p["part"]["len"] for p in m["parts"] if p["part"])
    # Checkpoints taken while every source still ran (not the ones after the end).
    if all(p["part"] for p in m["parts"] if p["step"] == 0):
        sizes.append(size)
        delays.append(m["written_unix_ms"] - m["epoch_end_unix_ms"])
if sizes:
    print(f"{len(sizes)} checkpoints while running, largest {max(sizes)/1e6:.1f} MB, "
          f"published {statistics.median(delays):.0f} ms (median) / {max(delays)} ms (max) after their epoch ended")
else:
    print("no checkpoint while running")
PY
)
      fi
      echo "q$q rep$rep $cfg: $rate events/s; $info"
    done
  done
done
