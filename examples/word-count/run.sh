#!/usr/bin/env bash
# Word count in one command: starts the receiver, the job and the sender, sends
# a text file's lines (default README.md) as length-prefixed frames, waits
# until every word has been counted, stops the job (SIGTERM) and prints the
# most frequent words. Ports: $WORD_COUNT_PORT (job, 7010) and
# $WORD_COUNT_SINK (receiver, 127.0.0.1:7002).
set -euo pipefail
cd "$(dirname "$0")/../.."
FILE="${1:-README.md}"
export WORD_COUNT_PORT="${WORD_COUNT_PORT:-7010}"
export WORD_COUNT_SINK="${WORD_COUNT_SINK:-127.0.0.1:7002}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

node --import tsx examples/word-count/receive.ts >"$work/counts.txt" 2>"$work/receive.log" &
pids+=($!)
until grep -q listening "$work/receive.log" 2>/dev/null; do
  if ! kill -0 "${pids[0]}" 2>/dev/null; then cat "$work/receive.log" >&2; exit 1; fi
  sleep 0.1
done

echo "== sluice run examples/word-count/app.ts (listening on $WORD_COUNT_PORT, writing to $WORD_COUNT_SINK)"
node dist/cli/main.js run examples/word-count/app.ts --data-dir "$work/data" &
job=$!
pids+=("$job")

echo "== sending $FILE"
node --import tsx examples/word-count/send.ts "$FILE" --retry-ms 10000 2>&1 | tee "$work/send.log"
words=$(sed -n 's/.*(\([0-9]*\) words).*/\1/p' "$work/send.log")

# One output line per word sent: wait for all of them, then stop the job gracefully.
for _ in $(seq 1 200); do
  [ "$(wc -l <"$work/counts.txt")" -ge "$words" ] && break
  sleep 0.1
done
kill -TERM "$job"
wait "$job"

echo "== $(wc -l <"$work/counts.txt") lines received, e.g.:"
head -n 5 "$work/counts.txt"
echo "== the most frequent words (their last WORD => COUNT line)"
sort -t'>' -k2 -n -r "$work/counts.txt" | awk '!seen[$1]++' | head -n 10
