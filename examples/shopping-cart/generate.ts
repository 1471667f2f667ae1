// Generates shoppers' cart events as JSON lines, in the order they happen.
// Deterministic for a seed.
//
//   node --import tsx examples/shopping-cart/generate.ts [carts] [seed] > events.jsonl
//
// Each cart lives a few minutes to an hour within one day: 1-10 adds and
// removes (some removes take less than is there, some more, some hit an item
// that is not in the cart: a double click), then a checkout (half of them),
// items removed one by one until it is empty (15%), or nothing: abandoned.
// A few emptied carts are then checked out anyway (an empty checkout).

import { pathToFileURL } from 'node:url';
import { seeded } from '../stock-tracker/generate.ts';
import type { CartEvent } from './app.ts';

export const START = Date.UTC(2024, 2, 1, 8);
export const ITEMS = ['espresso-beans', 'oat-milk', 'paper-cups', 'croissant', 'green-tea', 'dark-chocolate', 'granola', 'honey', 'sparkling-water', 'bagel'];

export function generateEvents(carts: number, seed: number): CartEvent[] {
  const random = seeded(seed);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo));
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const events: CartEvent[] = [];
  for (let c = 0; c < carts; c++) {
    const cartId = `cart-${String(c).padStart(4, '0')}`;
    let ts = START + between(0, 10 * 3_600_000);
    const next = () => (ts += between(5_000, 600_000));
    // What the shopper believes is in the cart: item → qty.
    const held = new Map<string, number>();
    const remove = (item: string, qty?: number) => {
      events.push({ type: 'remove', ts: next(), cartId, item, ...(qty === undefined ? {} : { qty }) });
      const left = qty === undefined ? 0 : (held.get(item) ?? 0) - qty;
      if (left > 0) held.set(item, left);
      else held.delete(item);
    };
    for (let n = between(1, 11); n > 0; n--) {
      const r = random();
      if (held.size === 0 || r < 0.6) {
        const item = pick(ITEMS);
        const qty = between(1, 4);
        events.push({ ts: next(), cartId, item, qty });
        held.set(item, (held.get(item) ?? 0) + qty);
      } else if (r < 0.96) {
        const item = pick([...held.keys()]);
        remove(item, random() < 0.3 ? undefined : between(1, held.get(item)! + 2));
      } else if (held.size < ITEMS.length) remove(pick(ITEMS.filter((i) => !held.has(i))));
    }
    const end = random();
    if (end < 0.5) events.push({ type: 'checkout', ts: next(), cartId });
    else if (end < 0.65) {
      for (const item of [...held.keys()]) remove(item);
      if (random() < 0.3) events.push({ type: 'checkout', ts: next(), cartId });
    }
  }
  // A cart's events are seconds apart: sorting by time keeps their order.
  return events.sort((a, b) => a.ts - b.ts);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const carts = Number(process.argv[2] ?? 2000);
  const seed = Number(process.argv[3] ?? 7);
  process.stdout.write(generateEvents(carts, seed).map((e) => JSON.stringify(e) + '\n').join(''));
}
