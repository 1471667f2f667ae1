#!/usr/bin/env bash
# Sessionization in one command, on the embedded log in a fresh temporary
# data dir (or $SLUICE_DATA_DIR, whose topics and job state are reset):
# produces generated clicks (out of order), runs the job to the end of its
# input, and compares the sessions with the batch reference.
set -euo pipefail
cd "$(dirname "$0")/../.."
sluice() { node dist/cli/main.js "$@"; }
N="${CLICKS:-5000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SLUICE_DATA_DIR="${SLUICE_DATA_DIR:-$work/data}"

echo "== topics in $SLUICE_DATA_DIR"
for topic in clicks user-sessions sessions-dead-letters sessions-changelog; do
  sluice topic delete "$topic" >/dev/null 2>&1 || true
done
rm -rf "$SLUICE_DATA_DIR/groups/sessions"
# One input partition: its order is the arrival order, which decides what is late.
sluice topic create clicks --partitions 1
sluice topic create user-sessions --partitions 3

echo "== produce $N generated clicks"
node --import tsx examples/sessions/generate.ts "$N" > "$work/clicks.jsonl"
sluice produce clicks < "$work/clicks.jsonl"

echo "== sluice run examples/sessions/app.ts --until-end"
sluice run examples/sessions/app.ts --until-end

echo "== the first sessions"
sluice consume user-sessions -n 3
sluice consume user-sessions > "$work/sessions.jsonl"
echo "== compared with the batch reference"
node --import tsx examples/sessions/check.ts "$work/clicks.jsonl" "$work/sessions.jsonl"
