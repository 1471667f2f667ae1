// Generates stock events as JSON lines: orders (1-6 units), deliveries (10-30
// units) and now and then a new reorder level (0-20) per product, so stock
// rises and falls through reorder levels and some orders find too little.
// Deterministic for a seed.
//
//   node --import tsx examples/stock-tracker/generate.ts [count] [seed] > events.jsonl

import { pathToFileURL } from 'node:url';
import type { StockEvent } from './app.ts';

export const PRODUCTS = ['espresso-beans', 'oat-milk', 'paper-cups', 'croissants', 'tea-bags', 'sugar-sticks'];

/** mulberry32: a tiny seeded PRNG. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generateEvents(count: number, seed: number, products: readonly string[] = PRODUCTS): StockEvent[] {
  const random = seeded(seed);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const out: StockEvent[] = [];
  let orders = 0;
  for (let i = 0; i < count; i++) {
    const product = products[Math.floor(random() * products.length)]!;
    const kind = random();
    if (kind < 0.82) out.push({ type: 'order', orderId: `o-${String(++orders).padStart(7, '0')}`, product, qty: between(1, 6) });
    else if (kind < 0.95) out.push({ type: 'delivery', product, qty: between(10, 30) });
    else out.push({ type: 'reorder-level', product, reorderLevel: between(0, 20) });
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = Number(process.argv[2] ?? 2000);
  const seed = Number(process.argv[3] ?? 7);
  process.stdout.write(generateEvents(count, seed).map((e) => JSON.stringify(e) + '\n').join(''));
}
