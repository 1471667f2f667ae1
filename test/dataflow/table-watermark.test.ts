// A table's source holds event time back only while it has something to read:
// a rarely-updated table (its last row's timestamp far behind the stream's)
// must not stall a stream-table join's waits, nor windows, for the idle
// timeout after each of its updates. Streams keep their idle timeout.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { TestDriver } from '../../src/runtime/testing/test-driver.ts';
import { json } from '../../src/codec.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';

interface Req {
  user: string;
  ts: number;
}

function app(tableWatermark?: { idleTimeoutMs: number }): Application {
  const a = new Application('table-watermark', { partitions: 1 });
  const p = a.pipeline('p');
  const users = p.table(placeholderSource('users'), json<{ plan: string }>(), { name: 'users', watermark: tableWatermark });
  p.from(placeholderSource('requests'), json<Req>(), { timestamp: (r) => r.ts, watermark: { idleTimeoutMs: Infinity } })
    .leftJoin(users, { key: (r) => r.user, fn: (r, u) => ({ ...r, plan: u?.plan ?? null }), waitMs: 1000 })
    .to(placeholderSink('out'), json);
  return a;
}

function drive(a: Application): TestDriver {
  const d = new TestDriver(a, { startTime: 0 });
  d.sendRecords('users', [{ key: 'ann', value: { plan: 'pro' }, timestamp: 0 }]);
  d.send(
    'requests',
    Array.from({ length: 10 }, (_, i) => ({ user: i % 2 ? 'ann' : 'bob', ts: 1000 + i * 1000 })),
  );
  // One tick of the wall clock: the table has nothing left to read.
  d.advanceTime(1);
  return d;
}

test("a table with nothing to read does not hold the watermark: a join's waits end by the stream's event time", () => {
  const d = drive(app());
  assert.equal(d.watermark, 10_000);
  const out = d.output<Req & { plan: string | null }>('out');
  // bob has no row: each of his requests was emitted unmatched once the stream's watermark reached ts + 1000.
  assert.deepEqual(
    out.filter((r) => r.user === 'bob').map((r) => [r.ts, r.plan]),
    [1000, 3000, 5000, 7000, 9000].map((ts) => [ts, null]),
  );
  assert.ok(out.filter((r) => r.user === 'ann').every((r) => r.plan === 'pro'));
});

test('a table given an idle timeout keeps it (the behaviour for streams)', () => {
  const d = drive(app({ idleTimeoutMs: 5000 }));
  assert.equal(d.watermark, 0, 'held by the table, whose last row is at 0');
  assert.deepEqual(
    d.output<Req>('out').filter((r) => r.user === 'bob'),
    [],
  );
  d.advanceTime(5000);
  assert.equal(d.watermark, 10_000);
});
