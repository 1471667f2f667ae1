// The sliding-window order tracker: orders and units per product over the
// last 5 minutes, updated as each order arrives — on hand-made orders, against
// the from-scratch reference order by order in the TestDriver, and once end to
// end through the CLI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { TestDriver } from '../../src/runtime/testing/index.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { jsonLines, runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { build, type Activity, type Order } from '../../examples/order-tracker/app.ts';
import { latest, referenceActivity } from '../../examples/order-tracker/reference.ts';
import { generateOrders } from '../../examples/order-tracker/generate.ts';
import { seeded } from '../../examples/stock-tracker/generate.ts';

const APP = fileURLToPath(new URL('../../examples/order-tracker/app.ts', import.meta.url));

function driver() {
  return new TestDriver(build({ orders: placeholderSource('orders'), activity: placeholderSink('product-activity') }));
}

const at = (hms: string) => Date.parse(`2024-03-01T${hms}Z`);
const order = (hms: string, productId = 'milk', qty = 1): Order => ({ ts: at(hms), productId, qty });
const show = (a: Activity) => `${a.productId} ${a.asOf.slice(11, 23)} ${a.orders}/${a.qty} r${a.revision}`;
const byAsOf = (rows: Activity[]) => rows.sort((a, b) => (a.asOf < b.asOf ? -1 : a.asOf > b.asOf ? 1 : 0));

test('in order: each order gets the count and units of its product over the 5 minutes up to it', () => {
  const d = driver();
  const orders = [
    order('10:00:00', 'milk', 2),
    order('10:02:00', 'cups', 10),
    order('10:04:59.999', 'milk', 3),
    order('10:05:00', 'milk', 1), // 10:00:00 is exactly 5 minutes before: no longer in the window
    order('10:05:00', 'milk', 4), // the same moment: the same window, one more order (revision 2)
    order('10:12:00', 'milk', 1),
  ];
  d.send('orders', orders);
  const expected = [
    'milk 10:00:00.000 1/2 r1',
    'cups 10:02:00.000 1/10 r1',
    'milk 10:04:59.999 2/5 r1',
    'milk 10:05:00.000 2/4 r1',
    'milk 10:05:00.000 3/8 r2',
    'milk 10:12:00.000 1/1 r1',
  ];
  assert.deepEqual(d.output<Activity>('product-activity').map(show), expected);
  assert.deepEqual(referenceActivity(orders).perOrder.flat().map(show), expected, 'the reference agrees');
  d.endInput();
  assert.deepEqual(d.output('product-activity'), [], 'no final results');
});

test('out of order within 30 s: the order counts, and later windows it falls in are revised; later than that it is dropped', () => {
  const d = driver();
  d.send('orders', [order('10:00:00'), order('10:00:40')]);
  d.output('product-activity');
  d.send('orders', [order('10:00:20', 'milk', 5)]); // the watermark is 10:00:10: not late
  assert.deepEqual(byAsOf(d.output<Activity>('product-activity')).map(show), ['milk 10:00:20.000 2/6 r1', 'milk 10:00:40.000 3/7 r2']);
  d.send('orders', [order('10:00:05')]); // its own window closed at 10:00:05.001
  assert.deepEqual(d.output('product-activity'), []);
  assert.deepEqual(d.counters(), { 'last-5-minutes': { 'late-dropped': 1 } });
});

test('a bad order is dead-lettered with the reason', () => {
  const d = driver();
  d.send('orders', [{ ts: 1, productId: 'milk', qty: 0 }, { ts: 1.5, productId: 'milk', qty: 1 }] as Order[]);
  const dead = d.deadLettered();
  assert.equal(dead.length, 2);
  assert.match(dead[0]!.headers['sluice.error']!, /qty/);
  assert.match(dead[1]!.headers['sluice.error']!, /"ts"/);
});

test('generated orders, one at a time: what each order makes the job emit equals the reference', () => {
  for (const seed of [1, 2, 3]) {
    const orders = generateOrders(1500, seed);
    const ref = referenceActivity(orders);
    assert.ok(ref.late > 10, `seed ${seed} has late orders`);
    assert.ok(ref.perOrder.some((out) => out.length > 1), `seed ${seed} revises later windows`);
    const d = driver();
    orders.forEach((o, i) => {
      d.send('orders', [o]);
      assert.deepEqual(byAsOf(d.output<Activity>('product-activity')), ref.perOrder[i], `seed ${seed}, order #${i}`);
    });
    assert.equal(d.counters()['last-5-minutes']?.['late-dropped'], ref.late, `seed ${seed}: late orders`);
    d.endInput();
    assert.equal(d.state('last-5-minutes').size, 0, 'no state once time has ended');
  }
});

test('generated orders in batches of any size: the same results', () => {
  const orders = generateOrders(3000, 11, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
  const ref = referenceActivity(orders);
  const random = seeded(5);
  const d = driver();
  for (let i = 0; i < orders.length; ) {
    const n = 1 + Math.floor(random() * 300);
    d.send('orders', orders.slice(i, i + n));
    i += n;
  }
  const got = d.output<Activity>('product-activity');
  assert.equal(got.length, ref.perOrder.flat().length);
  assert.deepEqual(latest(got), latest(ref.perOrder.flat()));
  assert.equal(d.counters()['last-5-minutes']?.['late-dropped'], ref.late);
});

test('end to end: `sluice run examples/order-tracker/app.ts --until-end`', async (t) => {
  const dir = tmpDir(t);
  const ok = async (args: string[], input?: string) => {
    const r = await runCli([...args, '--data-dir', dir], input === undefined ? { dataDir: dir } : { dataDir: dir, input });
    assert.equal(r.code, 0, `sluice ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  await ok(['topic', 'create', 'orders', '--partitions', '1']);
  await ok(['topic', 'create', 'product-activity', '--partitions', '3']);
  const orders = generateOrders(4000, 42);
  await ok(['produce', 'orders'], orders.map((o) => JSON.stringify(o) + '\n').join(''));
  const run = await ok(['run', APP, '--until-end']);
  assert.match(run.stderr, /order-tracker: 4000 records in, \d+ out, 0 dead-lettered/);
  const ref = referenceActivity(orders);
  assert.match(run.stderr, new RegExp(`\\n  last-5-minutes: late-dropped ${ref.late}\\n`));
  const got = jsonLines((await ok(['consume', 'product-activity'])).stdout) as Activity[];
  const expected = ref.perOrder.flat();
  assert.equal(got.length, expected.length);
  // Keyed by product: each product's results keep the job's order, so each window's revisions come 1, 2, ...
  for (const p of new Set(orders.map((o) => o.productId))) {
    const revisions = new Map<string, number>();
    for (const a of got.filter((x) => x.productId === p)) {
      assert.equal(a.revision, (revisions.get(a.asOf) ?? 0) + 1, `${p} ${a.asOf}: revisions in order`);
      revisions.set(a.asOf, a.revision);
    }
  }
  assert.deepEqual(latest(got), latest(expected));
});
