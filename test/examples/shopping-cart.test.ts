// The shopping-cart example: carts folded from an event log into a table,
// written to a compacted topic (tombstones for checked-out and emptied carts),
// and a stream of removed items — checked on hand-made events, against a
// replay of generated logs in the TestDriver, by interactive queries on a
// running job, and end to end through the CLI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { TestDriver } from '../../src/runtime/testing/index.ts';
import { Job, topicSink, topicSource } from '../../src/index.ts';
import { openFileLog, Producer } from '../../src/log/index.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { jsonLines, runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { build, type Cart, type CartEvent, type RemovedItem } from '../../examples/shopping-cart/app.ts';
import { replay } from '../../examples/shopping-cart/reference.ts';
import { generateEvents, START } from '../../examples/shopping-cart/generate.ts';
import { seeded } from '../../examples/stock-tracker/generate.ts';

const APP = fileURLToPath(new URL('../../examples/shopping-cart/app.ts', import.meta.url));

function driver() {
  return new TestDriver(build({ events: placeholderSource('cart-events'), carts: placeholderSink('carts'), removed: placeholderSink('removed-items') }));
}

const s = (seconds: number) => START + seconds * 1000;
const add = (sec: number, cartId: string, item: string, qty: number): CartEvent => ({ ts: s(sec), cartId, item, qty });
const remove = (sec: number, cartId: string, item: string, qty?: number): CartEvent => ({ type: 'remove', ts: s(sec), cartId, item, ...(qty === undefined ? {} : { qty }) });
const checkout = (sec: number, cartId: string): CartEvent => ({ type: 'checkout', ts: s(sec), cartId });
/** A cart as text: "item×qty@addedAt-second ...", or "-" for a tombstone. */
const show = (c: Cart | null) => (c === null ? '-' : c.items.map((l) => `${l.item}×${l.qty}@${(l.addedAt - START) / 1000}`).join(' '));
/** The carts topic's records: the cart, or null (a tombstone). */
const cartRecords = (d: TestDriver) => d.outputRecords<Cart | null>('carts').map((r) => ({ key: r.key!, value: r.value, timestamp: r.timestamp }));
const gone = (r: RemovedItem) => `${r.cartId} ${r.item}×${r.qty} ${(r.addedAt - START) / 1000}-${(r.removedAt - START) / 1000} ${r.inCartMs / 1000}s`;

test('adds, partial and whole removes, a double click, an emptied cart and a checkout', () => {
  const d = driver();
  d.send('cart-events', [
    add(0, 'a', 'beans', 2),
    add(10, 'a', 'milk', 1),
    remove(30, 'a', 'beans', 1), // one of two: the line stays, with its first addedAt
    add(40, 'a', 'beans', 3),
    remove(50, 'a', 'milk'), // no qty: all of it
    remove(51, 'a', 'milk'), // a double click: nothing to remove
    remove(60, 'a', 'beans', 9), // more than there is: all 4, and the cart is empty
    add(70, 'b', 'tea', 1),
    checkout(80, 'b'),
    checkout(81, 'b'), // nothing left to check out
  ]);
  const carts = cartRecords(d);
  assert.deepEqual(
    carts.map((r) => `${r.key}: ${show(r.value)}`),
    ['a: beans×2@0', 'a: beans×2@0 milk×1@10', 'a: beans×1@0 milk×1@10', 'a: beans×4@0 milk×1@10', 'a: beans×4@0', 'a: -', 'b: tea×1@70', 'b: -'],
  );
  assert.deepEqual(carts.map((r) => (r.timestamp - START) / 1000), [0, 10, 30, 40, 50, 60, 70, 80], 'each change at its event time');
  assert.deepEqual(d.output<RemovedItem>('removed-items').map(gone), ['a beans×1 0-30 30s', 'a milk×1 10-50 40s', 'a beans×4 0-60 60s']);
  assert.deepEqual(d.counters(), { 'cart-fold': { 'nothing-to-remove': 1, 'empty-checkout': 1 } });
  assert.equal(d.table('carts').size, 0);
  assert.equal(d.state('cart-fold').size, 0, 'a deleted cart leaves no state behind');

  // The history stays; a cart id can be used again, from scratch.
  d.send('cart-events', [add(90, 'a', 'milk', 2)]);
  assert.deepEqual([...d.table<Cart>('carts')].map(([k, c]) => `${k}: ${show(c)}`), ['a: milk×2@90']);
  assert.equal(d.table<Cart>('carts').get('a')!.updatedAt, s(90));
});

test('events the rules cannot apply are dead-lettered with the reason, and change nothing', () => {
  const d = driver();
  const bad = [
    { ts: s(0), cartId: 'a', item: 'beans' }, // an add without qty
    { ts: s(0), cartId: 'a', item: 'beans', qty: 1.5 },
    { type: 'remove', ts: s(0), cartId: 'a', item: 'beans', qty: 0 },
    { type: 'empty', ts: s(0), cartId: 'a' },
    { ts: s(0), item: 'beans', qty: 1 },
  ] as CartEvent[];
  d.send('cart-events', bad);
  assert.deepEqual(
    d.deadLettered().map((x) => x.headers['sluice.error']!.replace(/^.*?: /, '')),
    ['"qty" must be a positive whole number, got undefined', '"qty" must be a positive whole number, got 1.5', '"qty" must be a positive whole number, got 0', 'unknown event type "empty"', 'a cart event needs a non-empty string "cartId"'],
  );
  assert.equal(d.table('carts').size, 0);
});

test('generated event logs in batches of random sizes: carts, their changelog and the removed items equal the replay', () => {
  for (const seed of [1, 2, 3, 4]) {
    const events = generateEvents(400, seed);
    const ref = replay(events);
    assert.ok(ref.carts.size > 50 && ref.removed.length > 200 && ref.nothingToRemove > 10 && ref.emptyCheckouts > 5, `seed ${seed} exercises every rule`);
    assert.ok(ref.changes.filter((c) => c.value === null).length > 100, `seed ${seed}: carts checked out and emptied`);
    const d = driver();
    const random = seeded(seed * 13);
    for (let i = 0; i < events.length; ) {
      const n = 1 + Math.floor(random() * 300);
      d.send('cart-events', events.slice(i, i + n));
      i += n;
    }
    // One thread processes events in input order, so the outputs come in the replay's order exactly.
    assert.deepEqual(cartRecords(d).map((r) => ({ key: r.key, value: r.value })), ref.changes, `seed ${seed}: carts changelog`);
    assert.deepEqual(d.output<RemovedItem>('removed-items'), ref.removed, `seed ${seed}: removed items`);
    assert.deepEqual(d.table('carts'), ref.carts, `seed ${seed}: the carts table`);
    assert.deepEqual(d.counters(), { 'cart-fold': { 'nothing-to-remove': ref.nothingToRemove, 'empty-checkout': ref.emptyCheckouts } });
    assert.equal(d.state('cart-fold').size, ref.carts.size, `seed ${seed}: state only for open carts`);
  }
});

test('a running job answers job.lookup and job.scan with the carts as events arrive', async (t) => {
  const log = await openFileLog({ dataDir: tmpDir(t) });
  const stop = new AbortController();
  let running: Promise<unknown> | null = null;
  try {
    for (const topic of ['cart-events', 'removed-items']) await log.createTopic(topic, { partitions: 2 });
    await log.createTopic('carts', { partitions: 2, compact: true });
    const job = new Job(build({ events: topicSource({ topic: 'cart-events' }), carts: topicSink({ topic: 'carts' }), removed: topicSink({ topic: 'removed-items' }) }), { log, signal: stop.signal, commitIntervalMs: 20 });
    running = job.run();
    const producer = new Producer(log);
    const send = (events: CartEvent[]) => producer.send('cart-events', events.map((e) => ({ key: Buffer.from(e.cartId), value: Buffer.from(JSON.stringify(e)) })));
    const eventually = async <T>(what: string, got: () => Promise<T>, want: T) => {
      for (const deadline = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 20))) {
        const g = await got();
        if (JSON.stringify(g) === JSON.stringify(want) || Date.now() > deadline) return assert.deepEqual(g, want, what);
      }
    };

    const events = generateEvents(60, 5);
    const half = events.slice(0, events.length / 2);
    await send(half);
    const first = replay(half);
    const sortedScan = async () => [...(await job.scan<Cart>('carts'))].sort();
    await eventually('scan after half the events', sortedScan, [...first.carts].sort());
    for (let c = 0; c < 60; c++) {
      const id = `cart-${String(c).padStart(4, '0')}`;
      assert.deepEqual(await job.lookup('carts', id), first.carts.get(id), `lookup ${id}`);
    }
    await send(events.slice(events.length / 2));
    const all = replay(events);
    await eventually('scan after all the events', sortedScan, [...all.carts].sort());
    // Carts open after the first half that are gone now.
    const closed = [...first.carts.keys()].filter((id) => !all.carts.has(id));
    assert.ok(closed.length > 0);
    for (const id of closed) assert.equal(await job.lookup('carts', id), undefined, `${id} was checked out or emptied`);
  } finally {
    stop.abort();
    await running;
    await log.close();
  }
});

test('end to end: `sluice run --until-end`, then the compacted carts topic and the removed items read back with `sluice consume`', async (t) => {
  const dir = tmpDir(t);
  const ok = async (args: string[], input?: string) => {
    const r = await runCli([...args, '--data-dir', dir], { dataDir: dir, ...(input === undefined ? {} : { input }) });
    assert.equal(r.code, 0, `sluice ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  await ok(['topic', 'create', 'cart-events', '--partitions', '3']);
  await ok(['topic', 'create', 'carts', '--partitions', '3', '--compact']);
  await ok(['topic', 'create', 'removed-items', '--partitions', '2']);
  const events = generateEvents(1500, 42);
  await ok(['produce', 'cart-events', '--key-field', 'cartId'], events.map((e) => JSON.stringify(e) + '\n').join(''));
  const run = await ok(['run', APP, '--until-end']);
  const ref = replay(events);
  assert.match(run.stderr, new RegExp(`shopping-cart: ${events.length} records in, ${ref.changes.length + ref.removed.length} out, 0 dead-lettered`));
  assert.match(run.stderr, new RegExp(`\\n  cart-fold: nothing-to-remove ${ref.nothingToRemove}, empty-checkout ${ref.emptyCheckouts}\\n`));

  // The compacted topic, read back: per key, its records are the cart's changes in order, the newest its current cart.
  const records = jsonLines((await ok(['consume', 'carts', '--with-meta'])).stdout) as { key: string; value: Cart | null }[];
  const perKey = (rows: { key: string; value: unknown }[]) => {
    const m = new Map<string, unknown[]>();
    for (const r of rows) m.set(r.key, [...(m.get(r.key) ?? []), r.value]);
    return new Map([...m].sort());
  };
  assert.deepEqual(perKey(records), perKey(ref.changes));
  const newest = new Map(records.map((r) => [r.key, r.value]));
  assert.deepEqual(new Map([...newest].filter(([, v]) => v !== null).sort()), new Map([...ref.carts].sort()));
  assert.ok([...newest.values()].filter((v) => v === null).length > 300, 'checked-out and emptied carts end in a tombstone');

  // Removed items are keyed by cart: each cart's are in order.
  const removed = jsonLines((await ok(['consume', 'removed-items'])).stdout) as RemovedItem[];
  assert.deepEqual(perKey(removed.map((r) => ({ key: r.cartId, value: r }))), perKey(ref.removed.map((r) => ({ key: r.cartId, value: r }))));
  // And the state the job saved is the replay's carts.
  const state = JSON.parse((await ok(['state', 'shopping-cart'])).stdout) as Record<string, Record<string, { v: Cart }>>;
  assert.deepEqual(new Map(Object.entries(state['carts']!).map(([k, v]): [string, Cart] => [k, v.v]).sort()), new Map([...ref.carts].sort()));
});
