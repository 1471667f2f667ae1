// Compares what the stock tracker wrote with the sequential reference
// (reference.ts), product by product, and prints a summary with the final
// stock table (the last record per key of the compacted topic stock-levels).
//
//   node --import tsx examples/stock-tracker/check.ts events.jsonl outcomes.jsonl levels-with-meta.jsonl alerts.jsonl
//
// levels-with-meta is `sluice consume stock-levels --with-meta`: the table's
// key is the record key. Exits 1 if anything differs.

import { readFileSync } from 'node:fs';
import type { OrderOutcome, StockEvent, StockRow } from './app.ts';
import { referenceStock } from './reference.ts';

const files = process.argv.slice(2);
if (files.length !== 4) {
  process.stderr.write('usage: check.ts EVENTS.jsonl OUTCOMES.jsonl LEVELS-WITH-META.jsonl ALERTS.jsonl\n');
  process.exit(2);
}
const read = <T>(file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
const events = read<StockEvent>(files[0]!);
const outcomes = read<OrderOutcome>(files[1]!);
const levels = read<{ key: string; value: StockRow }>(files[2]!);
const alerts = read<StockRow>(files[3]!);
const ref = referenceStock(events);

// Topics interleave their partitions; one product's records are in one partition, in order.
const same = (a: unknown[], b: unknown[]) => JSON.stringify(a) === JSON.stringify(b);
const differ = [...ref.table.keys()].filter(
  (p) =>
    !same(outcomes.filter((o) => o.product === p), ref.outcomes.filter((o) => o.product === p)) ||
    !same(levels.filter((l) => l.key === p).map((l) => l.value), ref.levels.filter((l) => l.product === p)) ||
    !same(alerts.filter((a) => a.product === p), ref.alerts.filter((a) => a.product === p)),
);
const counts = outcomes.length === ref.outcomes.length && levels.length === ref.levels.length && alerts.length === ref.alerts.length;

const accepted = outcomes.filter((o) => o.outcome === 'accepted').length;
console.log(`${events.length} events: ${outcomes.length} orders (${accepted} accepted, ${outcomes.length - accepted} rejected), ${levels.length} stock changes, ${alerts.length} alerts`);
const table = new Map(levels.map((l) => [l.key, l.value]));
console.log(`  ${'product'.padEnd(16)} ${'stock'.padStart(6)} ${'reorder'.padStart(8)}`);
for (const [p, r] of [...table].sort(([a], [b]) => (a < b ? -1 : 1))) {
  console.log(`  ${p.padEnd(16)} ${String(r.stock).padStart(6)} ${String(r.reorderLevel).padStart(8)}${r.stock < r.reorderLevel ? '  below: reorder' : ''}`);
}
if (differ.length > 0 || !counts) {
  console.log(`MISMATCH with the sequential reference: ${differ.length > 0 ? `products ${differ.join(', ')}` : 'record counts'}`);
  process.exit(1);
}
console.log('every outcome, stock change and alert equals the sequential reference (examples/stock-tracker/reference.ts)');
