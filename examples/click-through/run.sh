#!/usr/bin/env bash
# Click-through rates in one command, on the embedded log in a fresh temporary
# data dir (or $SLUICE_DATA_DIR, whose topics and job state are reset):
# produces generated searches and clicks (out of order by up to 2 minutes)
# keyed by searchId, runs the job to the end of its input, and compares the
# click-throughs and hourly rates with brute force.
set -euo pipefail
cd "$(dirname "$0")/../.."
sluice() { node dist/cli/main.js "$@"; }
N="${SEARCHES:-5000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SLUICE_DATA_DIR="${SLUICE_DATA_DIR:-$work/data}"

echo "== topics in $SLUICE_DATA_DIR"
for topic in search-events click-throughs click-rates click-through-dead-letters click-through-changelog; do
  sluice topic delete "$topic" >/dev/null 2>&1 || true
done
rm -rf "$SLUICE_DATA_DIR/groups/click-through"
for topic in search-events click-throughs click-rates; do sluice topic create "$topic" --partitions 3; done

echo "== produce $N generated searches and their clicks, keyed by searchId, in arrival order"
node --import tsx examples/click-through/generate.ts "$N" > "$work/events.jsonl"
sluice produce search-events --key-field searchId < "$work/events.jsonl"

echo "== sluice run examples/click-through/app.ts --until-end"
sluice run examples/click-through/app.ts --until-end

echo "== the first click-throughs and rates"
sluice consume click-throughs -n 2
sluice consume click-rates -n 2
sluice consume click-throughs > "$work/click-throughs.jsonl"
sluice consume click-rates > "$work/click-rates.jsonl"
echo "== compared with brute force"
node --import tsx examples/click-through/check.ts "$work/events.jsonl" "$work/click-throughs.jsonl" "$work/click-rates.jsonl"
