#!/usr/bin/env bash
# The Sluice demo, on the embedded log (data in ./.sluice-demo, or $SLUICE_DATA_DIR):
# the bank-transfer job. 100,000 generated transfers go into a durable topic;
# `sluice run` decides each one (approve or deny, exactly as the sequential
# program would) and writes the outcomes to another topic; we count them.
#
# Re-runnable: it deletes and recreates its topics and the job's consumer group.
# DEMO_TRANSFERS=1000000 npm run demo for a bigger run.
set -euo pipefail
cd "$(dirname "$0")/.."
sluice() { node dist/cli/main.js "$@"; }
# Its own data dir (not ./.sluice, where the README's first steps create the same topics).
export SLUICE_DATA_DIR="${SLUICE_DATA_DIR:-./.sluice-demo}"
N="${DEMO_TRANSFERS:-100000}"

echo "== reset: the demo's topics, the job's saved state and consumer group (data dir $SLUICE_DATA_DIR)"
for topic in transfers transfer-outcomes bank-transfers-dead-letters bank-transfers-changelog; do
  sluice topic delete "$topic" >/dev/null 2>&1 || true
done
rm -rf "$SLUICE_DATA_DIR/groups/bank-transfers"
# One partition each: the job decides transfers in the order they were produced.
sluice topic create transfers --partitions 1
sluice topic create transfer-outcomes --partitions 1

echo "== produce $N transfers: {\"source\",\"target\",\"amount\"}, about 1 in 10 from the \"sweep\" account"
node --import tsx examples/bank-transfers/generate.ts "$N" | sluice produce transfers --key-field source

echo "== sluice run examples/bank-transfers/app.ts --until-end"
sluice run examples/bank-transfers/app.ts --until-end

echo "== the outcomes (topic transfer-outcomes), checked against the sequential program"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sluice consume transfers >"$work/transfers.jsonl"
sluice consume transfer-outcomes >"$work/outcomes.jsonl"
node --import tsx examples/bank-transfers/check.ts "$work/transfers.jsonl" "$work/outcomes.jsonl"
echo "== done; the data is in $SLUICE_DATA_DIR: e.g. node dist/cli/main.js consume transfer-outcomes --data-dir $SLUICE_DATA_DIR | head -n 3"
