// Generates stock changes as JSON lines: {"product","change"}. Deliveries
// (positive, 10-50 units) are rarer and bigger than sales (1-5 units), so
// levels rise and fall through their thresholds. Deterministic for a seed.
//
//   node --import tsx examples/stock-tracker/generate.ts [count] [seed] > changes.jsonl

import { pathToFileURL } from 'node:url';
import type { StockChange } from './app.ts';

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

export function generateChanges(count: number, seed: number, products: readonly string[] = PRODUCTS): StockChange[] {
  const random = seeded(seed);
  const out: StockChange[] = [];
  for (let i = 0; i < count; i++) {
    const product = products[Math.floor(random() * products.length)]!;
    const change = random() < 0.1 ? 10 * (1 + Math.floor(random() * 5)) : -(1 + Math.floor(random() * 5));
    out.push({ product, change });
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = Number(process.argv[2] ?? 1000);
  const seed = Number(process.argv[3] ?? 7);
  process.stdout.write(generateChanges(count, seed).map((c) => JSON.stringify(c) + '\n').join(''));
}
