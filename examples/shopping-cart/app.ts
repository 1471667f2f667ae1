// Event sourcing: a shop's carts, built from the log of what shoppers did.
//
//   in   cart-events    {"ts":1709287200000,"cartId":"cart-0042","item":"espresso-beans","qty":2}
//                       {"type":"remove","ts":1709287260000,"cartId":"cart-0042","item":"espresso-beans","qty":1}
//                       {"type":"checkout","ts":1709287320000,"cartId":"cart-0042"}
//   out  carts          key cart-0042: {"cartId":"cart-0042","items":[{"item":"espresso-beans","qty":1,"addedAt":1709287200000}],"updatedAt":1709287260000}
//                       (compacted; a tombstone once the cart is checked out or emptied)
//   out  removed-items  {"cartId":"cart-0042","item":"espresso-beans","qty":1,"addedAt":1709287200000,"removedAt":1709287260000,"inCartMs":60000}
//
// The events are the source of truth and are never changed: a remove does
// not undo an add, it is one more fact. The current cart is derived from them
// — a fold of the cart's events in order — and kept as a table: queryable
// while the job runs (`job.lookup('carts', cartId)`, see query.ts) and written
// to the compacted topic `carts`, which keeps the newest cart per id (a
// reader can rebuild every cart from it without the history). The history
// holds what the current state forgets: items that went into a cart and out
// again, and how long they stayed, are what the removed-items stream reports
// (for analytics: a discount on what shoppers hesitate over).
//
// Rules: an add puts qty of an item in the cart (more of an item already
// there keeps its first addedAt); a remove takes qty out (all of it without a
// qty, at most what is there); a remove of an item not in the cart changes
// nothing (counted as `nothing-to-remove`: a double click), and so does the
// checkout of a cart that has no items (`empty-checkout`). A cart left with
// no items, or checked out, is deleted. Each cart's events are in order in one
// partition of cart-events (keyed by cartId): the fold is per cart, so carts
// need no order between them.

import { Application, json, Table, topicSink, topicSource, type ProcessContext, type Sink, type Source, type Upsert } from '../../src/index.ts';

export interface CartEvent {
  /** Default 'add'. */
  type?: 'add' | 'remove' | 'checkout';
  /** ms since the epoch. */
  ts: number;
  cartId: string;
  /** add and remove. */
  item?: string;
  /** add: how many (required); remove: how many (default: all). */
  qty?: number;
}

export interface CartLine {
  item: string;
  qty: number;
  /** When the item first went in, ms. */
  addedAt: number;
}

export interface Cart {
  cartId: string;
  /** In the order first added. */
  items: CartLine[];
  updatedAt: number;
}

export interface RemovedItem {
  cartId: string;
  item: string;
  qty: number;
  addedAt: number;
  removedAt: number;
  inCartMs: number;
}

export interface CartIO {
  events: Source;
  carts: Sink;
  removed: Sink;
}

/** An event the rules cannot apply is refused: dead-lettered with the reason. */
function checked(e: CartEvent): CartEvent {
  if (e === null || typeof e !== 'object') throw new Error('a cart event must be a JSON object');
  if (!Number.isFinite(e.ts)) throw new Error(`"ts" must be ms since the epoch, got ${JSON.stringify(e.ts)}`);
  if (typeof e.cartId !== 'string' || e.cartId === '') throw new Error('a cart event needs a non-empty string "cartId"');
  const type = e.type ?? 'add';
  if (type !== 'add' && type !== 'remove' && type !== 'checkout') throw new Error(`unknown event type ${JSON.stringify(e.type)}`);
  if (type === 'checkout') return e;
  if (typeof e.item !== 'string' || e.item === '') throw new Error(`${type} needs a non-empty string "item"`);
  const qtyOk = Number.isSafeInteger(e.qty) && e.qty! > 0;
  if (!qtyOk && (type === 'add' || e.qty !== undefined)) throw new Error(`"qty" must be a positive whole number, got ${JSON.stringify(e.qty)}`);
  return e;
}

/**
 * Applies one event to a cart (undefined: none yet). Returns the new cart
 * (null: deleted; the same object: unchanged) and what the event removed.
 * It builds new objects rather than changing the cart: the cart it was given
 * is also the row the table holds and the value a sink has yet to encode.
 */
export function applyEvent(cart: Cart | undefined, e: CartEvent): { cart: Cart | null | undefined; removed: RemovedItem | null } {
  const type = e.type ?? 'add';
  if (type === 'checkout') return { cart: cart === undefined ? undefined : null, removed: null };
  const items = cart?.items ?? [];
  const line = items.find((l) => l.item === e.item);
  if (type === 'add') {
    const added = line ? items.map((l) => (l === line ? { ...l, qty: l.qty + e.qty! } : l)) : [...items, { item: e.item!, qty: e.qty!, addedAt: e.ts }];
    return { cart: { cartId: e.cartId, items: added, updatedAt: e.ts }, removed: null };
  }
  if (!line) return { cart, removed: null };
  const qty = Math.min(e.qty ?? line.qty, line.qty);
  const left = items.flatMap((l) => (l !== line ? [l] : l.qty > qty ? [{ ...l, qty: l.qty - qty }] : []));
  const removed = { cartId: e.cartId, item: line.item, qty, addedAt: line.addedAt, removedAt: e.ts, inCartMs: e.ts - line.addedAt };
  return { cart: left.length === 0 ? null : { cartId: e.cartId, items: left, updatedAt: e.ts }, removed };
}

export function build(io: CartIO): Application {
  const app = new Application('shopping-cart', { partitions: 4 });
  const events = app.pipeline('carts').from(io.events, json<CartEvent>(), { name: 'cart-events', timestamp: (e) => checked(e).ts });

  // The fold: each cart's state is its current cart; each change goes out as an upsert (null: delete).
  const changes = events.keyBy((e) => e.cartId).process<{ cart?: Cart }, Upsert<Cart>>(
    () => ({}),
    (e, st, ctx: ProcessContext<Upsert<Cart>>) => {
      const { cart, removed } = applyEvent(st.cart, e);
      if (removed) ctx.emit(removed, { to: 'removed' });
      if (cart === st.cart) {
        ctx.count(e.type === 'checkout' ? 'empty-checkout' : 'nothing-to-remove');
        if (!cart) ctx.clearState();
        return;
      }
      if (cart) st.cart = cart;
      else ctx.clearState();
      ctx.emit({ key: e.cartId, value: cart ?? null });
    },
    { name: 'cart-fold' },
  );
  // The fold's output as a table: what queries read and what the compacted topic receives.
  const carts = Table.fromUpserts(changes, { name: 'carts' });
  carts.to(io.carts, json<Cart>(), { name: 'carts' });
  changes.sideOutput<RemovedItem>('removed').to(io.removed, json<RemovedItem>(), { name: 'removed-items', key: (r) => r.cartId });
  return app;
}

export default function shoppingCart(): Application {
  return build({
    events: topicSource({ topic: 'cart-events' }),
    carts: topicSink({ topic: 'carts' }),
    removed: topicSink({ topic: 'removed-items' }),
  });
}
