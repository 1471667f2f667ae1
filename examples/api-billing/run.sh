#!/usr/bin/env bash
# Emily's API billing in one command, on the embedded log in a fresh temporary
# data dir (or $SLUICE_DATA_DIR, whose billing topics and job state are reset):
# produces generated requests — shuffled, duplicated, some late — to one
# partition, runs the job to the end of its input, and compares its hourly,
# daily and monthly counts with the batch reference.
set -euo pipefail
cd "$(dirname "$0")/../.."
sluice() { node dist/cli/main.js "$@"; }
N="${API_REQUESTS:-20000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SLUICE_DATA_DIR="${SLUICE_DATA_DIR:-$work/data}"

echo "== topics in $SLUICE_DATA_DIR"
for topic in api-requests usage-hourly usage-daily billing-monthly api-billing-dead-letters api-billing-changelog; do
  sluice topic delete "$topic" >/dev/null 2>&1 || true
done
rm -rf "$SLUICE_DATA_DIR/groups/api-billing"
# One input partition: its order is the arrival order, which decides what is late.
sluice topic create api-requests --partitions 1
sluice topic create usage-hourly --partitions 3
sluice topic create usage-daily --partitions 3
sluice topic create billing-monthly --partitions 1

echo "== produce $N generated requests (plus duplicates), in arrival order"
node --import tsx examples/api-billing/generate.ts "$N" > "$work/requests.jsonl"
sluice produce api-requests --key-field userId < "$work/requests.jsonl"

echo "== sluice run examples/api-billing/app.ts --until-end"
sluice run examples/api-billing/app.ts --until-end

echo "== the first hourly counts and bills"
sluice consume usage-hourly -n 2
sluice consume billing-monthly -n 2
for topic in usage-hourly usage-daily billing-monthly; do sluice consume "$topic" > "$work/$topic.jsonl"; done
echo "== compared with the batch reference (examples/api-billing/reference.ts)"
node --import tsx examples/api-billing/check.ts "$work/requests.jsonl" "$work/usage-hourly.jsonl" "$work/usage-daily.jsonl" "$work/billing-monthly.jsonl"
