// The stock-tracker example: orders accepted or rejected against each
// product's stock, the stock table and its alerts — on hand-made events, against
// the sequential reference on random events in the TestDriver, and once end to
// end through the built CLI (then the table is queried from a restored job).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { TestDriver } from '../../src/runtime/testing/index.ts';
import { Job } from '../../src/index.ts';
import { openFileLog } from '../../src/log/index.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { jsonLines, runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import stockTracker, { build, type OrderOutcome, type StockEvent, type StockRow } from '../../examples/stock-tracker/app.ts';
import { referenceStock } from '../../examples/stock-tracker/reference.ts';
import { generateEvents, seeded } from '../../examples/stock-tracker/generate.ts';

const APP = fileURLToPath(new URL('../../examples/stock-tracker/app.ts', import.meta.url));

function driver() {
  return new TestDriver(
    build({
      events: placeholderSource('stock-events'),
      outcomes: placeholderSink('order-outcomes'),
      levels: placeholderSink('stock-levels'),
      alerts: placeholderSink('stock-alerts'),
    }),
  );
}

const order = (orderId: string, qty: number, product = 'beans'): StockEvent => ({ type: 'order', orderId, product, qty });
const delivery = (qty: number, product = 'beans'): StockEvent => ({ type: 'delivery', product, qty });
const reorderLevel = (level: number, product = 'beans'): StockEvent => ({ type: 'reorder-level', product, reorderLevel: level });
const row = (r: StockRow) => `${r.product} ${r.stock}/${r.reorderLevel}`;

/** What the table wrote to stock-levels (decoded with the table's codec). */
function levelRecords(d: TestDriver): { key: string | null; value: StockRow }[] {
  return d.outputRecords<StockRow>('stock-levels').map((r) => ({ key: r.key, value: r.value }));
}

test('orders take stock while it lasts; every change of a row is in the table; alerts fire on going below the reorder level', () => {
  const d = driver();
  d.send('stock-events', [
    order('o1', 1), // nothing delivered yet: rejected
    delivery(12), // 12/0
    reorderLevel(10), // 12/10
    order('o2', 2), // 10: at the reorder level is not below
    order('o3', 1), // 9: below → alert
    order('o4', 5), // 4: still below, no second alert
    order('o5', 3), // 1: two orders in one batch for more than is left: the first one wins...
    order('o6', 3), // ...the second is rejected
    delivery(20), // 21: back above, re-armed
    reorderLevel(25), // 21/25: the reorder level raised above the stock → alert
    order('o7', 21), // exactly the stock: accepted, 0
    reorderLevel(25), // unchanged: no change of the row
    delivery(3, 'cups'),
  ]);
  const outcomes = d.outputRecords<OrderOutcome>('order-outcomes');
  assert.deepEqual(outcomes.map((r) => `${r.value.orderId} ${r.value.outcome} ${r.value.stock}`), [
    'o1 rejected 0', 'o2 accepted 10', 'o3 accepted 9', 'o4 accepted 4', 'o5 accepted 1', 'o6 rejected 1', 'o7 accepted 0',
  ]);
  assert.deepEqual(outcomes[0]!.value, { orderId: 'o1', product: 'beans', qty: 1, outcome: 'rejected', stock: 0 });
  assert.ok(outcomes.every((r) => r.key === 'beans'), 'outcomes are keyed by product');

  const levels = levelRecords(d);
  assert.deepEqual(levels.map((r) => row(r.value)), [
    'beans 12/0', 'beans 12/10', 'beans 10/10', 'beans 9/10', 'beans 4/10', 'beans 1/10', 'beans 21/10', 'beans 21/25', 'beans 0/25', 'cups 3/0',
  ]);
  assert.deepEqual(levels.map((r) => r.key), [...Array(9).fill('beans'), 'cups'], 'the table is written keyed by product');
  const alerts = d.outputRecords<StockRow>('stock-alerts');
  assert.deepEqual(alerts.map((r) => row(r.value)), ['beans 9/10', 'beans 21/25']);
  assert.deepEqual(alerts.map((r) => r.key), ['beans', 'beans']);

  assert.deepEqual(d.table('stock'), new Map([['beans', { product: 'beans', stock: 0, reorderLevel: 25 }], ['cups', { product: 'cups', stock: 3, reorderLevel: 0 }]]));
  assert.deepEqual(d.state('decide', 'beans'), { product: 'beans', stock: 0, reorderLevel: 25 });
  assert.deepEqual(referenceStock([order('x', 1), delivery(12), reorderLevel(10), order('y', 3)]).alerts, [{ product: 'beans', stock: 9, reorderLevel: 10 }]);
});

test('malformed events are dead-lettered with the reason and change nothing', () => {
  const d = driver();
  d.send('stock-events', [delivery(5, 'tea')]);
  d.send('stock-events', [
    { type: 'refund', product: 'tea', qty: 1 },
    { type: 'order', product: 'tea', qty: 1 },
    { type: 'order', orderId: 'o1', product: 'tea', qty: 1.5 },
    { type: 'delivery', product: 'tea', qty: 0 },
    { type: 'reorder-level', product: 'tea', reorderLevel: -1 },
    { type: 'delivery', qty: 3 },
  ]);
  d.sendRaw('stock-events', ['not json']);
  d.send('stock-events', [order('o2', 5, 'tea')]);
  assert.deepEqual(d.output<OrderOutcome>('order-outcomes').map((o) => `${o.orderId} ${o.outcome} ${o.stock}`), ['o2 accepted 0']);
  assert.deepEqual(levelRecords(d).map((r) => row(r.value)), ['tea 5/0', 'tea 0/0']);
  const dead = d.deadLettered();
  assert.equal(dead.length, 7);
  const reasons = dead.slice(0, 6).map((x) => x.headers['sluice.error']!);
  for (const [i, pattern] of [/"type" must be/, /orderId/, /"qty" must be/, /"qty" must be/, /"reorderLevel" must be/, /"product"/].entries()) {
    assert.match(reasons[i]!, pattern);
  }
});

test('random events, several seeds and batch sizes: outcomes, the table and alerts equal the sequential reference', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const random = seeded(seed * 101);
    const products = Array.from({ length: 1 + Math.floor(random() * 8) }, (_, i) => `p${i}`);
    const events = generateEvents(1500, seed, products);
    const d = driver();
    for (let i = 0; i < events.length; ) {
      const n = 1 + Math.floor(random() * 200);
      d.send('stock-events', events.slice(i, i + n));
      i += n;
    }
    const ref = referenceStock(events);
    const outcomes = d.output<OrderOutcome>('order-outcomes');
    assert.deepEqual(outcomes, ref.outcomes, `outcomes, seed ${seed}`);
    assert.deepEqual(levelRecords(d).map((r) => r.value), ref.levels, `stock levels, seed ${seed}`);
    assert.deepEqual(d.output('stock-alerts'), ref.alerts, `alerts, seed ${seed}`);
    assert.deepEqual(d.table('stock'), ref.table, `the stock table, seed ${seed}`);
    const rejected = outcomes.filter((o) => o.outcome === 'rejected').length;
    assert.ok(rejected > 20 && outcomes.length - rejected > 500 && ref.alerts.length > 5, `seed ${seed} exercises rejections and alerts`);
    assert.ok(outcomes.every((o) => o.stock >= 0), 'stock never goes negative');
  }
});

test('end to end: `sluice run` over partitioned topics; then a restored job answers queries on the stock table', async (t) => {
  const dir = tmpDir(t);
  const ok = async (args: string[], input?: string) => {
    const r = await runCli([...args, '--data-dir', dir], input === undefined ? { dataDir: dir } : { dataDir: dir, input });
    assert.equal(r.code, 0, `sluice ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  await ok(['topic', 'create', 'stock-events', '--partitions', '3']);
  await ok(['topic', 'create', 'order-outcomes', '--partitions', '3']);
  await ok(['topic', 'create', 'stock-levels', '--partitions', '3', '--compact']);
  await ok(['topic', 'create', 'stock-alerts', '--partitions', '2']);
  const events = generateEvents(5000, 42);
  // Keyed by product: one product's events stay in order in one partition.
  await ok(['produce', 'stock-events', '--key-field', 'product'], events.map((e) => JSON.stringify(e) + '\n').join(''));
  const run = await ok(['run', APP, '--until-end']);
  assert.match(run.stderr, /stock-tracker: 5000 records in, \d+ out, 0 dead-lettered/);

  const ref = referenceStock(events);
  const outcomes = jsonLines((await ok(['consume', 'order-outcomes'])).stdout) as OrderOutcome[];
  const alerts = jsonLines((await ok(['consume', 'stock-alerts'])).stdout) as StockRow[];
  const levels = jsonLines((await ok(['consume', 'stock-levels', '--with-meta'])).stdout) as { key: string; value: StockRow }[];
  assert.equal(outcomes.length, ref.outcomes.length);
  assert.ok(ref.alerts.length > 0 && ref.outcomes.some((o) => o.outcome === 'rejected'));
  // Across products the topics interleave partitions; per product the order is the input's.
  for (const p of ref.table.keys()) {
    assert.deepEqual(outcomes.filter((o) => o.product === p), ref.outcomes.filter((o) => o.product === p), `outcomes of ${p}`);
    assert.deepEqual(levels.filter((l) => l.key === p).map((l) => l.value), ref.levels.filter((l) => l.product === p), `stock levels of ${p}`);
    assert.deepEqual(alerts.filter((a) => a.product === p), ref.alerts.filter((a) => a.product === p), `alerts of ${p}`);
  }
  assert.equal(levels.length, ref.levels.length);
  assert.equal(alerts.length, ref.alerts.length);

  // The job's state was checkpointed: a second run has nothing to process but
  // restores the table, which answers lookups and scans.
  const log = await openFileLog({ dataDir: dir });
  try {
    const job = new Job(stockTracker(), { log, untilEnd: true });
    const again = await job.run();
    assert.equal(again.recordsIn, 0);
    assert.deepEqual(await job.scan('stock'), ref.table);
    assert.deepEqual(await job.lookup('stock', 'oat-milk'), ref.table.get('oat-milk'));
    assert.equal(await job.lookup('stock', 'no-such-product'), undefined);
  } finally {
    await log.close();
  }
});
