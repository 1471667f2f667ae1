// Compares what the shopping-cart job wrote with the replay of the event log
// (reference.ts), and prints a summary.
//
//   node --import tsx examples/shopping-cart/check.ts events.jsonl carts-with-meta.jsonl removed.jsonl
//
// carts-with-meta.jsonl is `sluice consume carts --with-meta` (the keys say
// which cart a tombstone deletes). Exits 1 if anything differs.

import { readFileSync } from 'node:fs';
import type { Cart, CartEvent, RemovedItem } from './app.ts';
import { replay } from './reference.ts';

const files = process.argv.slice(2);
if (files.length !== 3) {
  process.stderr.write('usage: check.ts EVENTS.jsonl CARTS-WITH-META.jsonl REMOVED.jsonl\n');
  process.exit(2);
}
const read = <T>(file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
const events = read<CartEvent>(files[0]!);
const ref = replay(events);

// The newest record per key of the compacted topic: a cart, or a tombstone for a cart that is gone.
const newest = new Map<string, Cart | null>();
for (const r of read<{ key: string; value: Cart | null }>(files[1]!)) newest.set(r.key, r.value);
const open = new Map([...newest].filter((e): e is [string, Cart] => e[1] !== null));
const sameCarts = JSON.stringify([...open].sort()) === JSON.stringify([...ref.carts].sort());

// Removed items are keyed by cart: each cart's come in order, carts interleave across partitions.
const perCart = (rows: RemovedItem[]) => {
  const m = new Map<string, RemovedItem[]>();
  for (const r of rows) m.set(r.cartId, [...(m.get(r.cartId) ?? []), r]);
  return JSON.stringify([...m].sort());
};
const removed = read<RemovedItem>(files[2]!);
const sameRemoved = perCart(removed) === perCart(ref.removed);

const carts = new Set(events.map((e) => e.cartId)).size;
console.log(`${events.length} events in ${carts} carts: ${ref.carts.size} carts open, ${newest.size - open.size} checked out or emptied (tombstones)`);
console.log(
  sameCarts
    ? `carts: the newest record of each of the ${newest.size} keys equals the replay of the event log`
    : `MISMATCH in carts: ${open.size} open carts, the replay has ${ref.carts.size}`,
);
console.log(sameRemoved ? `removed-items: ${removed.length} removals, each cart's equal to the replay's, in order` : `MISMATCH in removed-items: ${removed.length} removals, the replay has ${ref.removed.length}`);
const minutes = (ms: number) => (ms / 60_000).toFixed(1);
const byItem = new Map<string, number[]>();
for (const r of removed) byItem.set(r.item, [...(byItem.get(r.item) ?? []), r.inCartMs]);
console.log('  most removed items (removals, median minutes in the cart):');
for (const [item, times] of [...byItem].sort((a, b) => b[1].length - a[1].length).slice(0, 5)) {
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  console.log(`  ${item.padEnd(16)} ${String(times.length).padStart(5)} ${minutes(median).padStart(6)}`);
}
if (!sameCarts || !sameRemoved) process.exit(1);
