#!/usr/bin/env bash
# The stock tracker in one command, on the embedded log (./.sluice or
# $SLUICE_DATA_DIR): resets its topics and consumer group, produces generated
# stock changes keyed by product, runs the job to the end of its input, and
# shows the alerts and each product's final level.
set -euo pipefail
cd "$(dirname "$0")/../.."
sluice() { node dist/cli/main.js "$@"; }
export SLUICE_DATA_DIR="${SLUICE_DATA_DIR:-./.sluice}"
N="${STOCK_CHANGES:-2000}"

echo "== reset: topics stock-changes, stock-levels, stock-alerts, the job's saved state and group"
for topic in stock-changes stock-levels stock-alerts stock-tracker-dead-letters stock-tracker-changelog; do
  sluice topic delete "$topic" >/dev/null 2>&1 || true
done
rm -rf "$SLUICE_DATA_DIR/groups/stock-tracker"
sluice topic create stock-changes --partitions 3
sluice topic create stock-levels --partitions 3
sluice topic create stock-alerts --partitions 1

echo "== produce $N stock changes, keyed by product"
node --import tsx examples/stock-tracker/generate.ts "$N" | sluice produce stock-changes --key-field product

echo "== sluice run examples/stock-tracker/app.ts --until-end"
sluice run examples/stock-tracker/app.ts --until-end

echo "== the first alerts (topic stock-alerts; $(sluice consume stock-alerts | wc -l | tr -d ' ') in all)"
sluice consume stock-alerts | head -n 5
echo "== final level per product (the last record per product in stock-levels)"
sluice consume stock-levels | node -e '
  const last = new Map();
  for (const line of require("node:fs").readFileSync(0, "utf8").split("\n")) {
    if (line === "") continue;
    const l = JSON.parse(line);
    last.set(l.product, l.level);
  }
  for (const [product, level] of [...last].sort()) console.log(`  ${product.padEnd(16)} ${level}`);
'
