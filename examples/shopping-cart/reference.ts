// Event sourcing's own reference: replay the event log from the start, in
// one loop, with the rules written again the obvious way (mutable Maps, not
// app.ts's code). Whatever the job's partitions, checkpoints and restarts,
// its carts must be this replay's.

import type { Cart, CartEvent, CartLine, RemovedItem } from './app.ts';

export interface Replayed {
  /** The current carts (checked-out and emptied carts are gone). */
  carts: Map<string, Cart>;
  /** Each change of a cart, in log order: what the compacted topic receives (null: a tombstone). */
  changes: { key: string; value: Cart | null }[];
  /** Items taken out of carts, in log order. */
  removed: RemovedItem[];
  nothingToRemove: number;
  emptyCheckouts: number;
}

export function replay(events: readonly CartEvent[]): Replayed {
  const open = new Map<string, { lines: Map<string, CartLine>; updatedAt: number }>();
  const out: Replayed = { carts: new Map(), changes: [], removed: [], nothingToRemove: 0, emptyCheckouts: 0 };
  const changed = (cartId: string) => {
    const c = open.get(cartId);
    const cart = c && { cartId, items: [...c.lines.values()].map((l) => ({ ...l })), updatedAt: c.updatedAt };
    out.changes.push({ key: cartId, value: cart ?? null });
    if (cart) out.carts.set(cartId, cart);
    else out.carts.delete(cartId);
  };

  for (const e of events) {
    const cart = open.get(e.cartId);
    if (e.type === 'checkout') {
      if (!cart) out.emptyCheckouts++;
      else {
        open.delete(e.cartId);
        changed(e.cartId);
      }
    } else if (e.type === 'remove') {
      const line = cart?.lines.get(e.item!);
      if (!cart || !line) {
        out.nothingToRemove++;
        continue;
      }
      const qty = e.qty === undefined ? line.qty : Math.min(e.qty, line.qty);
      out.removed.push({ cartId: e.cartId, item: line.item, qty, addedAt: line.addedAt, removedAt: e.ts, inCartMs: e.ts - line.addedAt });
      line.qty -= qty;
      if (line.qty === 0) cart.lines.delete(line.item);
      cart.updatedAt = e.ts;
      if (cart.lines.size === 0) open.delete(e.cartId);
      changed(e.cartId);
    } else {
      const c = cart ?? { lines: new Map<string, CartLine>(), updatedAt: e.ts };
      open.set(e.cartId, c);
      const line = c.lines.get(e.item!);
      if (line) line.qty += e.qty!;
      else c.lines.set(e.item!, { item: e.item!, qty: e.qty!, addedAt: e.ts });
      c.updatedAt = e.ts;
      changed(e.cartId);
    }
  }
  return out;
}
