#!/usr/bin/env bash
# The Sluice demo on the embedded log (data in ./.sluice, or $SLUICE_DATA_DIR):
# 100,000 bank transfers go into a partitioned, durable topic, a consumer group
# reads some of them and remembers where it stopped, and describe shows the lag.
set -euo pipefail
cd "$(dirname "$0")/.."
sluice() { node dist/cli/main.js "$@"; }
export SLUICE_DATA_DIR="${SLUICE_DATA_DIR:-./.sluice}"

echo "== a topic with 4 partitions (fsync always: acknowledged = durable)"
sluice topic delete transfers 2>/dev/null || true
rm -rf "$SLUICE_DATA_DIR/groups/audit"
sluice topic create transfers --partitions 4

echo "== produce 100,000 transfers, keyed by source account (same account -> same partition)"
node --import tsx examples/bank-transfers/generate.ts 100000 | sluice produce transfers --key-field source

echo "== the audit group reads 3 records..."
sluice consume transfers --group audit --max 3 --with-meta
echo "== ...and the next run resumes after them"
sluice consume transfers --group audit --max 2 --with-meta

echo "== per-partition offsets, sizes, and the audit group's lag"
sluice topic describe transfers
