#!/bin/bash
# Usage: scripts/peak-rss.sh SECONDS COMMAND...
# Runs COMMAND for at most SECONDS, samples its resident memory every second,
# and prints the peak (MB) and the last line of its standard output.
secs=$1; shift
"$@" > "${TMPDIR:-/tmp}/peak-rss-out.txt" 2>/dev/null &
pid=$!
peak=0
for i in $(seq $secs); do
  sleep 1
  r=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null) || break
  [ -z "$r" ] && break
  [ "$r" -gt "$peak" ] && peak=$r
done
kill $pid 2>/dev/null; wait $pid 2>/dev/null
echo "peak_rss_mb=$((peak/1024)) $(tail -1 "${TMPDIR:-/tmp}/peak-rss-out.txt")"
