#!/usr/bin/env bash
# The stock tracker in one command, on the embedded log in a fresh temporary
# data dir (or $SLUICE_DATA_DIR, whose stock topics and job state are reset):
# produces generated orders and stock updates keyed by product, runs the job
# to the end of its input, shows a few outcomes and alerts, and compares
# everything with the sequential reference.
set -euo pipefail
cd "$(dirname "$0")/../.."
sluice() { node dist/cli/main.js "$@"; }
N="${STOCK_EVENTS:-5000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SLUICE_DATA_DIR="${SLUICE_DATA_DIR:-$work/data}"

echo "== topics in $SLUICE_DATA_DIR"
for topic in stock-events order-outcomes stock-levels stock-alerts stock-tracker-dead-letters stock-tracker-changelog; do
  sluice topic delete "$topic" >/dev/null 2>&1 || true
done
rm -rf "$SLUICE_DATA_DIR/groups/stock-tracker"
sluice topic create stock-events --partitions 3
sluice topic create order-outcomes --partitions 3
# The stock table: compacted, so it keeps the last row per product.
sluice topic create stock-levels --partitions 3 --compact
sluice topic create stock-alerts --partitions 1

echo "== produce $N generated stock events, keyed by product (one product's events stay in order)"
node --import tsx examples/stock-tracker/generate.ts "$N" > "$work/events.jsonl"
sluice produce stock-events --key-field product < "$work/events.jsonl"

echo "== sluice run examples/stock-tracker/app.ts --until-end"
sluice run examples/stock-tracker/app.ts --until-end

echo "== the first outcomes and alerts"
sluice consume order-outcomes -n 3
sluice consume stock-alerts -n 2
sluice consume order-outcomes > "$work/outcomes.jsonl"
sluice consume stock-levels --with-meta > "$work/levels.jsonl"
sluice consume stock-alerts > "$work/alerts.jsonl"
echo "== compared with the sequential reference"
node --import tsx examples/stock-tracker/check.ts "$work/events.jsonl" "$work/outcomes.jsonl" "$work/levels.jsonl" "$work/alerts.jsonl"
