// Sliding-window order tracker: for each product, how many orders (and how
// many units) came in over the last 5 minutes — updated the moment an order
// arrives, not at the next tick of a clock.
//
//   in   orders            {"ts":1709287205000,"productId":"oat-milk","qty":2}
//   out  product-activity  {"productId":"oat-milk","asOf":"2024-03-01T10:00:05.000Z","orders":7,"qty":15,"revision":1}
//
// A sliding window (DDIA's) ends at each order: the window of an order at t
// holds the product's orders in (t - 5 min, t], so `asOf` is the order's own
// time. Every change to a window is emitted at once ('every-event' early
// results) and there is no final result: the last one emitted is it.
//
// Orders may arrive up to 30 s out of order. One that is out of order but not
// late also counts in the windows of the later orders within 5 minutes after
// it, which are emitted again with the next revision: a reader keeps the
// highest revision per product and `asOf`. An order later than that (its own
// window already closed) is dropped and counted (`late-dropped`).

import { Application, json, sliding, topicSink, topicSource, type Aggregator, type Sink, type Source, type WindowResult } from '../../src/index.ts';

export interface Order {
  /** When the order was placed: ms since the epoch. */
  ts: number;
  productId: string;
  qty: number;
}

export interface Activity {
  productId: string;
  /** The end of the 5 minutes (inclusive), ISO-8601 UTC: the time of the order whose window this is. */
  asOf: string;
  orders: number;
  qty: number;
  revision: number;
}

export interface OrderIO {
  orders: Source;
  activity: Sink;
}

export const WINDOW_MS = 5 * 60_000;
export const MAX_OUT_OF_ORDER_MS = 30_000;

interface Totals {
  orders: number;
  qty: number;
}

const totals: Aggregator<Order, Totals> = {
  init: () => ({ orders: 0, qty: 0 }),
  add: (a, o) => ({ orders: a.orders + 1, qty: a.qty + o.qty }),
  merge: (a, b) => ({ orders: a.orders + b.orders, qty: a.qty + b.qty }),
};

function checked(o: Order): Order {
  if (o === null || typeof o !== 'object') throw new Error('an order must be a JSON object');
  if (!Number.isSafeInteger(o.ts)) throw new Error(`"ts" must be whole ms since the epoch, got ${JSON.stringify(o.ts)}`);
  if (typeof o.productId !== 'string' || o.productId === '') throw new Error('an order needs a non-empty string "productId"');
  if (!Number.isSafeInteger(o.qty) || o.qty <= 0) throw new Error(`"qty" must be a positive whole number, got ${JSON.stringify(o.qty)}`);
  return o;
}

function activity(w: WindowResult<Totals>): Activity {
  return { productId: w.key, asOf: new Date(w.end - 1).toISOString(), orders: w.value.orders, qty: w.value.qty, revision: w.revision };
}

export function build(io: OrderIO): Application {
  const app = new Application('order-tracker', { partitions: 8 });
  app
    .pipeline('orders')
    .from(io.orders, json<Order>(), { name: 'orders', timestamp: (o) => checked(o).ts, watermark: { maxOutOfOrderMs: MAX_OUT_OF_ORDER_MS } })
    .keyBy((o) => o.productId)
    .window(sliding(WINDOW_MS), { emit: { early: 'every-event', final: false } })
    .aggregate(totals, { name: 'last-5-minutes' })
    .map(activity)
    .to(io.activity, json<Activity>(), { name: 'product-activity' });
  return app;
}

export default function orderTracker(): Application {
  return build({ orders: topicSource({ topic: 'orders' }), activity: topicSink({ topic: 'product-activity' }) });
}
