#!/usr/bin/env bash
# Event-sourced shopping carts in one command, on the embedded log in a fresh
# temporary data dir (or $SLUICE_DATA_DIR, whose topics and job state are
# reset): produces generated cart events keyed by cart, runs the job to the
# end of its input, reads the compacted carts topic and the removed items
# back, compares them with a replay of the event log, and asks the job for a
# few carts by id.
set -euo pipefail
cd "$(dirname "$0")/../.."
sluice() { node dist/cli/main.js "$@"; }
N="${CARTS:-2000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SLUICE_DATA_DIR="${SLUICE_DATA_DIR:-$work/data}"

echo "== topics in $SLUICE_DATA_DIR"
for topic in cart-events carts removed-items shopping-cart-dead-letters shopping-cart-changelog; do
  sluice topic delete "$topic" >/dev/null 2>&1 || true
done
rm -rf "$SLUICE_DATA_DIR/groups/shopping-cart"
# The event log keeps everything; carts keeps the newest cart per id, and a tombstone deletes it.
sluice topic create cart-events --partitions 3
sluice topic create carts --partitions 3 --compact
sluice topic create removed-items --partitions 3

echo "== produce the events of $N carts, keyed by cart: one cart's events stay in order"
node --import tsx examples/shopping-cart/generate.ts "$N" > "$work/events.jsonl"
sluice produce cart-events --key-field cartId < "$work/events.jsonl"

echo "== sluice run examples/shopping-cart/app.ts --until-end"
sluice run examples/shopping-cart/app.ts --until-end

echo "== the first carts (a null value is a checked-out or emptied cart) and removed items"
sluice consume carts --with-meta -n 2
sluice consume removed-items -n 2
sluice consume carts --with-meta > "$work/carts.jsonl"
sluice consume removed-items > "$work/removed.jsonl"
echo "== compared with a replay of the event log (examples/shopping-cart/reference.ts)"
node --import tsx examples/shopping-cart/check.ts "$work/events.jsonl" "$work/carts.jsonl" "$work/removed.jsonl"

echo "== the job's carts by id: job.lookup (examples/shopping-cart/query.ts)"
node --import tsx examples/shopping-cart/query.ts cart-0000 cart-0001 cart-0002
