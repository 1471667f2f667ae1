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

# Waits until file $2 has a line matching $3, or fails showing $2 and hint $4 if process $1 exits first.
wait_for() {
  until grep -q "$3" "$2" 2>/dev/null; do
    if ! kill -0 "$1" 2>/dev/null; then cat "$2" >&2; echo "${4:-}" >&2; exit 1; fi
    sleep 0.1
  done
}

node --import tsx examples/word-count/receive.ts >"$work/counts.txt" 2>"$work/receive.log" &
pids+=($!)
wait_for "${pids[0]}" "$work/receive.log" '^receive: listening' '== the receiver did not start'

echo "== sluice run examples/word-count/app.ts (listening on $WORD_COUNT_PORT, writing to $WORD_COUNT_SINK)"
node dist/cli/main.js run examples/word-count/app.ts --data-dir "$work/data" 2>"$work/job.log" &
job=$!
pids+=("$job")
# The job's readiness line says its TCP source listens (docs/cli.md); a taken port fails it first.
wait_for "$job" "$work/job.log" '^sluice ready ' "== the job did not start; if its port is taken, choose another: WORD_COUNT_PORT=PORT npm run example:word-count"

echo "== sending $FILE"
node --import tsx examples/word-count/send.ts "$FILE" 2>&1 | tee "$work/send.log"
words=$(sed -n 's/.*(\([0-9]*\) words).*/\1/p' "$work/send.log")

# One output line per word sent: wait for all of them, then stop the job gracefully.
until [ "$(wc -l <"$work/counts.txt")" -ge "$words" ]; do
  if ! kill -0 "$job" 2>/dev/null; then cat "$work/job.log" >&2; exit 1; fi
  sleep 0.1
done
kill -TERM "$job"
wait "$job"
grep -v '^sluice ready ' "$work/job.log" >&2 || true

echo "== $(wc -l <"$work/counts.txt") lines received, e.g.:"
sed -n 1,5p "$work/counts.txt"
echo "== the most frequent words (their last WORD => COUNT line)"
# awk stops printing after ten, but reads to the end: `| head` would end it with SIGPIPE (exit 141 under pipefail).
sort -t'>' -k2 -n -r "$work/counts.txt" | awk '!seen[$1]++ && shown++ < 10'
