// Stock management: a shop's orders are decided against its stock. Orders
// and stock updates are published to one topic, keyed by product:
//
//   in   stock-events    {"type":"delivery","product":"oat-milk","qty":40}
//                        {"type":"reorder-level","product":"oat-milk","reorderLevel":12}
//                        {"type":"order","orderId":"o-0000042","product":"oat-milk","qty":3}
//   out  order-outcomes  {"orderId":"o-0000042","product":"oat-milk","qty":3,"outcome":"accepted","stock":37}
//   out  stock-levels    (compacted, key = product) {"product":"oat-milk","stock":37,"reorderLevel":12}
//   out  stock-alerts    {"product":"oat-milk","stock":11,"reorderLevel":12}
//
// A delivery adds to the product's stock; a reorder-level update replaces its
// reorder level (both start at 0). An order is accepted when the stock covers
// it — exactly the stock is enough — and then takes its quantity off; else it
// is rejected and changes nothing. `stock` in an outcome is the stock after
// the decision. Every change of a product's row goes to stock-levels, a
// table; an alert fires when a change takes the row below its reorder level
// (stock < reorderLevel) from at or above it — by an order, or by a reorder
// level raised above the stock — once per dip: it re-arms when the row is
// back at or above. A malformed event is dead-lettered with the reason.
//
// Why not `orders.join(stockTable)`: accepting an order is read-modify-write
// of its product's row. In a join the row is read by the join and written by
// the table's own operator, downstream of the decision; two orders for the
// last unit both read "1 left" before the first decrement is back in the
// table, and both are accepted. (Feeding the decrements back into the table
// needs a cycle through a topic, which only widens the gap.) So the row lives
// in the state of the one keyed operator that decides — it sees a product's
// deliveries and orders one at a time, in order — and the table is built
// from the rows it writes: queryable by name (`job.lookup('stock', product)`)
// and written to a compacted topic.
//
// One topic for both kinds of event, keyed by product, gives each product one
// order of events: the order they were published in. Decisions depend on
// that order, so it must be the same when the job replays its input after a
// crash; two topics would be merged in whatever order their records arrive.

import { Application, json, topicSink, topicSource, type Change, type ProcessContext, type Sink, type Source } from '../../src/index.ts';

export type StockEvent =
  | { type: 'order'; orderId: string; product: string; qty: number }
  | { type: 'delivery'; product: string; qty: number }
  | { type: 'reorder-level'; product: string; reorderLevel: number };

export interface OrderOutcome {
  orderId: string;
  product: string;
  qty: number;
  outcome: 'accepted' | 'rejected';
  /** The product's stock after the decision. */
  stock: number;
}

/** A row of the stock table; also what an alert says. */
export interface StockRow {
  product: string;
  stock: number;
  reorderLevel: number;
}

export interface StockIO {
  events: Source;
  outcomes: Sink;
  levels: Sink;
  alerts: Sink;
}

export const below = (r: StockRow): boolean => r.stock < r.reorderLevel;

/** Due when a change takes a row below its reorder level from at or above it (a new row counts as stock 0, level 0). */
export function alertFor(c: Change<StockRow>): StockRow | null {
  return c.value !== null && below(c.value) && !(c.old !== null && below(c.old)) ? c.value : null;
}

const isCount = (n: unknown, min: number): n is number => Number.isSafeInteger(n) && (n as number) >= min;

function checked(e: StockEvent): StockEvent {
  if (e === null || typeof e !== 'object') throw new Error('a stock event must be a JSON object');
  if (!['order', 'delivery', 'reorder-level'].includes(e.type)) throw new Error(`"type" must be order, delivery or reorder-level, got ${JSON.stringify((e as { type: unknown }).type)}`);
  if (typeof e.product !== 'string' || e.product === '') throw new Error('a stock event needs a non-empty string "product"');
  if (e.type === 'order' && (typeof e.orderId !== 'string' || e.orderId === '')) throw new Error('an order needs a non-empty string "orderId"');
  if ((e.type === 'order' || e.type === 'delivery') && !isCount(e.qty, 1)) throw new Error(`"qty" must be a whole number of units >= 1, got ${JSON.stringify(e.qty)}`);
  if (e.type === 'reorder-level' && !isCount(e.reorderLevel, 0)) throw new Error(`"reorderLevel" must be a whole number >= 0, got ${JSON.stringify(e.reorderLevel)}`);
  return e;
}

/** The decision, with the product's row as state: outcomes to the main output, changed rows to 'rows'. */
function decide(e: StockEvent, row: StockRow, ctx: ProcessContext<OrderOutcome>): void {
  const before = { ...row };
  if (e.type === 'delivery') row.stock += e.qty;
  else if (e.type === 'reorder-level') row.reorderLevel = e.reorderLevel;
  else {
    const accepted = e.qty <= row.stock;
    if (accepted) row.stock -= e.qty;
    ctx.emit({ orderId: e.orderId, product: e.product, qty: e.qty, outcome: accepted ? 'accepted' : 'rejected', stock: row.stock });
  }
  if (row.stock !== before.stock || row.reorderLevel !== before.reorderLevel) ctx.emit({ ...row }, { to: 'rows' });
}

export function build(io: StockIO): Application {
  const app = new Application('stock-tracker', { partitions: 8 });
  const decisions = app
    .pipeline('stock')
    .from(io.events, json<StockEvent>(), { name: 'stock-events' })
    .map(checked, { name: 'validate' })
    .keyBy((e) => e.product)
    .process<StockRow, OrderOutcome>((product) => ({ product, stock: 0, reorderLevel: 0 }), decide, { name: 'decide' });
  decisions.to(io.outcomes, json<OrderOutcome>(), { name: 'order-outcomes' });

  const stock = decisions
    .sideOutput<StockRow>('rows')
    .keyBy((r) => r.product)
    .toTable({ name: 'stock' });
  stock.to(io.levels, json<StockRow>(), { name: 'stock-levels' });
  stock
    .toStream()
    .flatMap((c) => {
      const alert = alertFor(c);
      return alert === null ? [] : [alert];
    }, { name: 'alerts' })
    .to(io.alerts, json<StockRow>(), { name: 'stock-alerts' });
  return app;
}

export default function stockTracker(): Application {
  return build({
    events: topicSource({ topic: 'stock-events' }),
    outcomes: topicSink({ topic: 'order-outcomes' }),
    levels: topicSink({ topic: 'stock-levels' }),
    alerts: topicSink({ topic: 'stock-alerts' }),
  });
}
