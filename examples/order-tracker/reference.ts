// What the order tracker emits, recomputed from scratch as each order arrives,
// for tests and run.sh. The orders are one partition's, in arrival order.
//
// The watermark before an order is the newest `ts` before it minus
// MAX_OUT_OF_ORDER_MS; the order is late when that watermark has passed its
// own time (its window [ts - 5 min + 1, ts + 1) has closed). A late order
// changes nothing. Any other order is "received", and changes the window of
// every received order of its product at or up to 5 minutes after it — its
// own included — each emitted with its count over all orders received so far.

import { MAX_OUT_OF_ORDER_MS, WINDOW_MS, type Activity, type Order } from './app.ts';

export interface ReferenceActivity {
  /** Per arriving order, what it makes the job emit (by asOf). */
  perOrder: Activity[][];
  late: number;
}

export function referenceActivity(orders: readonly Order[]): ReferenceActivity {
  const received = new Map<string, Order[]>();
  const revisions = new Map<string, number>();
  const perOrder: Activity[][] = [];
  let late = 0;
  let newest = -Infinity;
  for (const o of orders) {
    const watermark = newest - MAX_OUT_OF_ORDER_MS;
    newest = Math.max(newest, o.ts);
    if (watermark >= o.ts + 1) {
      late++;
      perOrder.push([]);
      continue;
    }
    const mine = received.get(o.productId) ?? [];
    received.set(o.productId, mine);
    mine.push(o);
    const ends = [...new Set(mine.map((r) => r.ts).filter((t) => t >= o.ts && t < o.ts + WINDOW_MS))].sort((a, b) => a - b);
    perOrder.push(
      ends.map((t) => {
        const within = mine.filter((r) => r.ts > t - WINDOW_MS && r.ts <= t);
        const id = `${o.productId} ${t}`;
        const revision = (revisions.get(id) ?? 0) + 1;
        revisions.set(id, revision);
        return { productId: o.productId, asOf: new Date(t).toISOString(), orders: within.length, qty: within.reduce((n, r) => n + r.qty, 0), revision };
      }),
    );
  }
  return { perOrder, late };
}

/** The highest revision per product and asOf: what a reader of the output topic ends up with. */
export function latest(activity: readonly Activity[]): Map<string, Activity> {
  const out = new Map<string, Activity>();
  for (const a of activity) {
    const id = `${a.productId} ${a.asOf}`;
    if ((out.get(id)?.revision ?? 0) < a.revision) out.set(id, a);
  }
  return out;
}
