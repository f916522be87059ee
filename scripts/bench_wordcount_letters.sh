#!/usr/bin/env bash
# The rayon runner's word count against the hand-written rayon word count
# with the same word rule (`wc_rayon_letters` in ../shared/baselines: runs
# of letters, lowercased, 4 MiB byte-range splits, per-thread FxHash maps),
# on a corpus of several files made by the baselines' `gen words`. Both run
# with 2 threads, alternating, ROUNDS rounds; every output is compared with
# the baseline's. Prints wall time, CPU time and peak RSS per run, then the
# medians and their ratios.
#
#   bash scripts/bench_wordcount_letters.sh [TOTAL_MB] [FILES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
total_mb=${1:-200}
files=${2:-4}
rounds=${3:-5}
dir=bench-data/words-${total_mb}mb-$files
CARGO_TARGET_DIR=target/baselines cargo build --release --quiet \
    --manifest-path ../shared/baselines/rust-baselines/Cargo.toml
if [ ! -f "$dir/part-$files.txt" ]; then
    mkdir -p "$dir"
    for i in $(seq 1 "$files"); do
        target/baselines/release/gen words "$dir/part-$i.txt" $((total_mb * 1048576 / files)) "$i"
    done
fi
cargo build --release --quiet -p examples --bin wordcount
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 - "$dir" "$out" "$rounds" <<'PY'
import glob, os, resource, statistics, subprocess, sys, time
data, out, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted(glob.glob(f"{data}/part-*.txt"))
env = dict(os.environ, RAYON_NUM_THREADS="2")
variants = {
    "wc_rayon_letters": ["target/baselines/release/wc_rayon_letters", f"{out}/baseline", *files],
    "rayon runner": ["target/release/wordcount", "--runner", "rayon", "--parallelism", "2",
                     "--input", f"{data}/part-*.txt", "--output", f"{out}/pipeline", "--num-shards", "1"],
}
def sorted_lines(paths):
    lines = []
    for p in paths:
        with open(p, "rb") as f:
            lines.extend(f.read().splitlines())
    return sorted(lines)
runs = {name: [] for name in variants}
for r in range(rounds):
    for name, cmd in variants.items():
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.time()
        p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.time() - t
        if p.returncode != 0:
            sys.exit(f"{name} failed: {p.stderr.decode()[-2000:]}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        # ru_maxrss of the children is the largest so far: measure it alone.
        peak = subprocess.run(["python3", "-c",
            "import resource,subprocess,sys,os;"
            "subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)", *cmd],
            env=env, capture_output=True, text=True).stdout.strip() if r == 0 else None
        runs[name].append((wall, cpu, int(peak) / 1024 if peak else None))
        print(f"round {r + 1}: {name:<18} {wall:6.2f} s wall {cpu:6.2f} s cpu"
              + (f"  peak {int(peak) / 1024:5.0f} MB" if peak else ""), flush=True)
    if sorted_lines([f"{out}/baseline"]) != sorted_lines(glob.glob(f"{out}/pipeline-*")):
        sys.exit("the pipeline's counts differ from the baseline's")
base = runs["wc_rayon_letters"]
for name, rs in runs.items():
    wall = statistics.median(x[0] for x in rs)
    cpu = statistics.median(x[1] for x in rs)
    print(f"median {name:<18} {wall:6.2f} s wall ({wall / statistics.median(x[0] for x in base):4.2f}x)"
          f" {cpu:6.2f} s cpu ({cpu / statistics.median(x[1] for x in base):4.2f}x)"
          f"  peak {rs[0][2]:5.0f} MB ({rs[0][2] / base[0][2]:4.2f}x)")
PY
