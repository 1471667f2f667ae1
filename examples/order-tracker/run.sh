#!/usr/bin/env bash
# The sliding-window order tracker in one command, on the embedded log in a
# fresh temporary data dir (or $SLUICE_DATA_DIR, whose topics and job state
# are reset): produces generated orders to one partition (in arrival order),
# runs the job to the end of its input, and compares every result with the
# reference.
set -euo pipefail
cd "$(dirname "$0")/../.."
sluice() { node dist/cli/main.js "$@"; }
N="${ORDERS:-5000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SLUICE_DATA_DIR="${SLUICE_DATA_DIR:-$work/data}"

echo "== topics in $SLUICE_DATA_DIR"
for topic in orders product-activity order-tracker-dead-letters order-tracker-changelog; do
  sluice topic delete "$topic" >/dev/null 2>&1 || true
done
rm -rf "$SLUICE_DATA_DIR/groups/order-tracker"
# One input partition: its order is the arrival order, which decides what is late.
sluice topic create orders --partitions 1
sluice topic create product-activity --partitions 3

echo "== produce $N generated orders"
node --import tsx examples/order-tracker/generate.ts "$N" > "$work/orders.jsonl"
sluice produce orders < "$work/orders.jsonl"

echo "== sluice run examples/order-tracker/app.ts --until-end"
sluice run examples/order-tracker/app.ts --until-end

echo "== the first results"
sluice consume product-activity -n 3
sluice consume product-activity > "$work/activity.jsonl"
echo "== compared with the reference"
node --import tsx examples/order-tracker/check.ts "$work/orders.jsonl" "$work/activity.jsonl"
