// The stock-tracker example: running levels per product and alerts on
// crossing below a threshold, checked against a brute-force reference — in the
// TestDriver on random events, and once end to end through the built CLI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { TestDriver } from '../../src/runtime/test-driver.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { jsonLines, runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { build, THRESHOLDS, type StockAlert, type StockChange, type StockLevel, type Thresholds } from '../../examples/stock-tracker/app.ts';
import { referenceStock } from '../../examples/stock-tracker/reference.ts';
import { generateChanges, seeded } from '../../examples/stock-tracker/generate.ts';

const APP = fileURLToPath(new URL('../../examples/stock-tracker/app.ts', import.meta.url));

function driver(thresholds?: Thresholds) {
  const io = { changes: placeholderSource('stock-changes'), levels: placeholderSink('stock-levels'), alerts: placeholderSink('stock-alerts') };
  return new TestDriver(thresholds === undefined ? build(io) : build(io, thresholds));
}

test('levels run per product; an alert fires on crossing below the threshold, once, and re-arms above it', () => {
  const d = driver({ thresholds: { beans: 20 }, defaultThreshold: 5 });
  const events: StockChange[] = [
    { product: 'beans', change: 30 }, // 30
    { product: 'cups', change: 3 }, //  cups 3: below its threshold 5 from the start, but never crossed it
    { product: 'beans', change: -10 }, // 20: at the threshold is not below
    { product: 'beans', change: -1 }, // 19: crosses → alert
    { product: 'beans', change: -4 }, // 15: still below, no second alert
    { product: 'beans', change: 5 }, // 20: back at the threshold, re-armed
    { product: 'beans', change: -25 }, // -5: crosses again → alert
    { product: 'cups', change: 7 }, // 10
    { product: 'cups', change: -6 }, // 4: crosses 5 → alert
  ];
  d.send('stock-changes', events);
  assert.deepEqual(
    d.output<StockLevel>('stock-levels').map((l) => `${l.product}:${l.level}`),
    ['beans:30', 'cups:3', 'beans:20', 'beans:19', 'beans:15', 'beans:20', 'beans:-5', 'cups:10', 'cups:4'],
  );
  const alertRecords = d.outputRecords<StockAlert>('stock-alerts');
  assert.deepEqual(alertRecords.map((r) => r.key), ['beans', 'beans', 'cups'], 'outputs are keyed by product');
  assert.deepEqual(alertRecords.map((r) => r.value), [
    { product: 'beans', level: 19, threshold: 20 },
    { product: 'beans', level: -5, threshold: 20 },
    { product: 'cups', level: 4, threshold: 5 },
  ]);
  assert.deepEqual(d.state('stock-levels', 'beans'), { level: -5 });
});

test('bad events are dead-lettered with the reason and leave the levels alone', () => {
  const d = driver();
  d.send('stock-changes', [{ product: 'tea', change: 12 }]);
  d.send('stock-changes', [{ product: 'tea', change: 1.5 }, { product: '', change: 1 }, { change: 3 }, { product: 'tea', change: '2' }] as unknown as StockChange[]);
  d.sendRaw('stock-changes', ['not json']);
  d.send('stock-changes', [{ product: 'tea', change: -3 }]);
  assert.deepEqual(d.output<StockLevel>('stock-levels').map((l) => l.level), [12, 9]);
  assert.deepEqual(d.output('stock-alerts'), [{ product: 'tea', level: 9, threshold: 10 }]);
  const dead = d.deadLettered();
  assert.equal(dead.length, 5);
  assert.match(dead[0]!.headers['sluice.error']!, /whole number/);
  assert.match(dead[1]!.headers['sluice.error']!, /product/);
});

test('random events, several seeds and batch sizes: levels and alerts equal the brute-force reference', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const random = seeded(seed * 101);
    const products = Array.from({ length: 1 + Math.floor(random() * 8) }, (_, i) => `p${i}`);
    const thresholds: Thresholds = { thresholds: { p0: 0, p1: 25, p2: 3 }, defaultThreshold: Math.floor(random() * 30) };
    const events = generateChanges(1500, seed, products);
    const d = driver(thresholds);
    for (let i = 0; i < events.length; ) {
      const n = 1 + Math.floor(random() * 200);
      d.send('stock-changes', events.slice(i, i + n));
      i += n;
    }
    const expected = referenceStock(events, thresholds);
    assert.deepEqual(d.output('stock-levels'), expected.levels, `levels, seed ${seed}`);
    assert.deepEqual(d.output('stock-alerts'), expected.alerts, `alerts, seed ${seed}`);
    assert.ok(expected.alerts.length > 0, `seed ${seed} exercises alerts`);
  }
});

test('end to end: `sluice run examples/stock-tracker/app.ts --until-end` over partitioned topics', async (t) => {
  const dir = tmpDir(t);
  const ok = async (args: string[], input?: string) => {
    const r = await runCli([...args, '--data-dir', dir], input === undefined ? { dataDir: dir } : { dataDir: dir, input });
    assert.equal(r.code, 0, `sluice ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  await ok(['topic', 'create', 'stock-changes', '--partitions', '3']);
  await ok(['topic', 'create', 'stock-levels', '--partitions', '3']);
  await ok(['topic', 'create', 'stock-alerts', '--partitions', '2']);
  const events = generateChanges(5000, 42);
  // Keyed by product: one product's changes stay in order in one partition.
  await ok(['produce', 'stock-changes', '--key-field', 'product'], events.map((e) => JSON.stringify(e) + '\n').join(''));
  const run = await ok(['run', APP, '--until-end']);
  assert.match(run.stderr, /stock-tracker: 5000 records in, \d+ out, 0 dead-lettered/);

  const levels = jsonLines((await ok(['consume', 'stock-levels'])).stdout) as StockLevel[];
  const alerts = jsonLines((await ok(['consume', 'stock-alerts'])).stdout) as StockAlert[];
  const expected = referenceStock(events, THRESHOLDS);
  assert.equal(levels.length, 5000);
  assert.ok(expected.alerts.length > 0);
  // Across products the topics interleave partitions; per product the order is the input's.
  const products = [...new Set(events.map((e) => e.product))];
  for (const p of products) {
    assert.deepEqual(levels.filter((l) => l.product === p), expected.levels.filter((l) => l.product === p), `levels of ${p}`);
    assert.deepEqual(alerts.filter((a) => a.product === p), expected.alerts.filter((a) => a.product === p), `alerts of ${p}`);
  }
  assert.equal(alerts.length, expected.alerts.length);
});
