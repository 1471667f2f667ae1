// Generates orders as JSON lines, in the order they arrive. Deterministic for
// a seed.
//
//   node --import tsx examples/order-tracker/generate.ts [count] [seed] > orders.jsonl
//
// An order every 10 s on average (bursts and lulls: the gaps are exponential)
// from 2024-03-01 10:00 UTC, for a few products, some more popular. Most
// arrive within 20 s of being placed (inside the watermark's 30 s, so merely
// out of order); 3% take from 30 s to 3 minutes and are usually late.

import { pathToFileURL } from 'node:url';
import type { Order } from './app.ts';
import { seeded } from '../stock-tracker/generate.ts';

export const PRODUCTS = ['oat-milk', 'espresso-beans', 'paper-cups', 'croissants', 'tea-bags'];
export const START = Date.UTC(2024, 2, 1, 10);

export function generateOrders(count: number, seed: number, products: readonly string[] = PRODUCTS): Order[] {
  const random = seeded(seed);
  const arrivals: { at: number; order: Order }[] = [];
  let ts = START;
  for (let i = 0; i < count; i++) {
    ts += Math.floor(-Math.log(1 - random()) * 10_000);
    const order: Order = { ts, productId: products[Math.floor(random() ** 1.5 * products.length)]!, qty: 1 + Math.floor(random() * 5) };
    const delay = random() < 0.03 ? 30_000 + Math.floor(random() * 150_000) : Math.floor(random() * 20_000);
    arrivals.push({ at: ts + delay, order });
  }
  return arrivals.sort((a, b) => a.at - b.at).map((a) => a.order);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = Number(process.argv[2] ?? 5000);
  const seed = Number(process.argv[3] ?? 7);
  process.stdout.write(generateOrders(count, seed).map((o) => JSON.stringify(o) + '\n').join(''));
}
