#!/usr/bin/env bash
# Enrichment in one command, on the embedded log in a fresh temporary data dir
# (or $SLUICE_DATA_DIR, whose topics and job state are reset): API requests
# joined with a users table read from a compacted topic, in four steps —
# users, requests, plan changes/sign-ups/deletions, requests — each followed
# by a run of the job to the end of its input. Then every output is compared
# with the reference replay of the same four steps.
#
# Why steps: a job reads its two input topics side by side, so had both been
# full from the start, which user rows a request sees would depend on how
# the two topics' batches happened to interleave. Each run here has new
# records in one topic only, so the order is that of the steps. (Each run
# ends event time — a later run waits for nothing: see docs/time.md — so here
# the billing join never waits; the tests show it waiting.)
set -euo pipefail
cd "$(dirname "$0")/../.."
sluice() { node dist/cli/main.js "$@"; }
N="${API_REQUESTS:-5000}"
work="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
export SLUICE_DATA_DIR="${SLUICE_DATA_DIR:-$work/data}"
run() { sluice run examples/enrichment/app.ts --until-end; }

echo "== topics in $SLUICE_DATA_DIR"
for topic in users api-requests requests-with-plan billed-requests enrichment-dead-letters enrichment-changelog; do
  sluice topic delete "$topic" >/dev/null 2>&1 || true
done
rm -rf "$SLUICE_DATA_DIR/groups/enrichment"
# Compacted: the newest row per user is kept, and a tombstone deletes the user.
sluice topic create users --partitions 2 --compact
sluice topic create api-requests --partitions 2
sluice topic create requests-with-plan --partitions 2
sluice topic create billed-requests --partitions 2

node --import tsx examples/enrichment/generate.ts "$work" "$N"

echo "== 1. the users, keyed by userId"
sluice produce users --key-field userId < "$work/users-1.jsonl"
run
echo "== 2. requests"
sluice produce api-requests --key-field userId < "$work/requests-2.jsonl"
run
echo "== 3. plan changes and sign-ups, then deletions (a line with \"deleted\": true is a tombstone for its userId)"
sluice produce users --key-field userId < "$work/users-3.jsonl"
sluice produce users --key-field userId --tombstone-field deleted < "$work/deleted-3.jsonl"
run
echo "== 4. more requests"
sluice produce api-requests --key-field userId < "$work/requests-4.jsonl"
run

echo "== the first enriched and billed requests"
sluice consume requests-with-plan -n 2
sluice consume billed-requests -n 2
echo "== the users table, from the job's state: sluice state enrichment --key user-00"
sluice state enrichment --key user-00
sluice consume requests-with-plan > "$work/requests-with-plan.jsonl"
sluice consume billed-requests > "$work/billed-requests.jsonl"
sluice state enrichment > "$work/state.json"
sluice time enrichment --json > "$work/time.json"
echo "== compared with the reference replay of the four steps (examples/enrichment/reference.ts)"
node --import tsx examples/enrichment/check.ts "$work"
