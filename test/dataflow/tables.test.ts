// Tables against the brute-force reference of test/helpers/join-reference.ts:
// random changelogs (updates, deletes of present and absent keys) sent in
// random batches over several input partitions; the rows, the change stream
// with its old values, the tombstones written by table.to(), and the state
// the table keeps must all follow last-write-wins per key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { TestDriver } from '../../src/runtime/testing/test-driver.ts';
import { json } from '../../src/codec.ts';
import type { Change } from '../../src/dataflow/table.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { foldChanges, int, mulberry32, referenceTable, type Rand } from '../helpers/join-reference.ts';

interface User {
  name: string;
  ver: number;
}

interface Op {
  key: string;
  value: User | null;
  ts: number;
  partition: number;
}

/** `n` changelog records over `keys` keys: about a third deletes, some of keys that are absent by then. */
function changelog(rnd: Rand, n: number, keys: number, partitions: number): Op[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `u${int(rnd, 0, keys - 1)}`,
    value: rnd() < 0.35 ? null : { name: `n${int(rnd, 0, 99)}`, ver: i },
    ts: 1000 + i * 10,
    partition: int(rnd, 0, partitions - 1),
  }));
}

function tableApp(): Application {
  const app = new Application('tables');
  const users = app.pipeline('p').table(placeholderSource('users-log'), json<User>(), { name: 'users' });
  users.toStream().to(placeholderSink('changes'), json);
  users.to(placeholderSink('compacted'), json<User>());
  return app;
}

function sendChunks(d: TestDriver, ops: Op[], rnd: Rand, maxChunk: number): void {
  for (let i = 0; i < ops.length; ) {
    const n = int(rnd, 1, maxChunk);
    d.sendRecords('users-log', ops.slice(i, i + n).map((o) => ({ key: o.key, value: o.value, timestamp: o.ts, partition: o.partition })));
    i += n;
  }
}

test('a changelog table: rows, change stream, tombstones and state follow last-write-wins, however the input is batched', () => {
  let absentDeletes = 0;
  let deletes = 0;
  for (const [seed, keys, partitions, maxChunk] of [
    [1, 4, 1, 1],
    [2, 12, 3, 40],
    [3, 40, 2, 200],
  ] as const) {
    const rnd = mulberry32(seed);
    const ops = changelog(rnd, 600, keys, partitions);
    const ref = referenceTable(ops);
    const label = `seed ${seed}`;
    const d = new TestDriver(tableApp());
    sendChunks(d, ops, rnd, maxChunk);

    assert.deepEqual(d.table('users'), ref.rows, `${label}: the rows`);
    assert.deepEqual(new Set(d.state('users').keys()), new Set(ref.rows.keys()), `${label}: state only for keys with a row`);

    const changes = d.outputRecords<Change<User>>('changes');
    assert.deepEqual(
      changes.map((c) => c.value),
      ref.changes,
      `${label}: the change stream, old values included, in order`,
    );
    assert.deepEqual(foldChanges(changes.map((c) => c.value)), ref.rows, `${label}: folding the changes gives the rows`);
    // Each change carries its changelog record's timestamp (every record changes its key, but the delete of an absent one).
    const present = new Set<string>();
    const tsOfChange = ops.flatMap((o) => {
      const had = present.has(o.key);
      if (o.value === null) present.delete(o.key);
      else present.add(o.key);
      return o.value !== null || had ? [o.ts] : [];
    });
    assert.deepEqual(changes.map((c) => c.timestamp), tsOfChange, `${label}: change timestamps`);

    // table.to(): keyed by the table key, the row as JSON, a tombstone (null) for a delete.
    const compacted = d.outputRecords<User | null>('compacted');
    assert.deepEqual(
      compacted.map((r) => [r.key, r.value]),
      ref.changes.map((c) => [c.key, c.value]),
      `${label}: table.to() records`,
    );
    const tombstones = compacted.filter((r) => r.value === null).length;
    assert.equal(tombstones, ref.changes.filter((c) => c.value === null).length);
    deletes += tombstones;
    absentDeletes += ops.filter((o) => o.value === null).length - tombstones;
  }
  assert.ok(deletes > 50 && absentDeletes > 20, `the input deletes present (${deletes}) and absent (${absentDeletes}) keys`);
});

test('deleting an absent key emits nothing and leaves no state; deleting a present one leaves no state either', () => {
  const d = new TestDriver(tableApp());
  d.sendRecords('users-log', [{ key: 'ghost', value: null }]);
  assert.deepEqual(d.output('changes'), []);
  assert.deepEqual(d.output('compacted'), []);
  assert.equal(d.state('users').size, 0, 'no state for a key that never had a row');

  d.sendRecords('users-log', [
    { key: 'emily', value: { name: 'Emily', ver: 1 } },
    { key: 'bob', value: { name: 'Bob', ver: 2 } },
    { key: 'emily', value: { name: 'Em', ver: 3 } },
    { key: 'bob', value: null },
    { key: 'bob', value: null },
  ]);
  assert.deepEqual(d.output('changes'), [
    { key: 'emily', value: { name: 'Emily', ver: 1 }, old: null },
    { key: 'bob', value: { name: 'Bob', ver: 2 }, old: null },
    { key: 'emily', value: { name: 'Em', ver: 3 }, old: { name: 'Emily', ver: 1 } },
    { key: 'bob', value: null, old: { name: 'Bob', ver: 2 } },
  ]);
  assert.deepEqual(
    d.outputRecords('compacted').map((r) => [r.key, r.value]),
    [
      ['emily', { name: 'Emily', ver: 1 }],
      ['bob', { name: 'Bob', ver: 2 }],
      ['emily', { name: 'Em', ver: 3 }],
      ['bob', null],
    ],
  );
  assert.deepEqual([...d.state('users').keys()], ['emily']);
  assert.deepEqual(d.table('users'), new Map([['emily', { name: 'Em', ver: 3 }]]));
});

test('a changelog record without a key is dead-lettered, not applied', () => {
  const d = new TestDriver(tableApp());
  d.sendRecords('users-log', [{ key: null, value: { name: 'x', ver: 0 } }, { key: 'a', value: { name: 'A', ver: 1 } }]);
  const dead = d.deadLettered();
  assert.equal(dead.length, 1);
  assert.match(dead[0]!.headers['sluice.error'] ?? '', /needs a key/);
  assert.deepEqual(d.table('users'), new Map([['a', { name: 'A', ver: 1 }]]));
});

interface Order {
  id: number;
  customer: string;
  amount: number;
}

test('keyed.toTable and stream.toTable(keyFn): the latest value per key, with the change stream’s old values', () => {
  const app = new Application('to-table');
  const orders = app.pipeline('p').from(placeholderSource('orders'), json<Order>());
  const last = orders.keyBy((o) => o.customer).toTable({ name: 'last-order' });
  last.toStream().to(placeholderSink('last-changes'), json);
  // A numeric key: tables key by its string.
  const byBucket = orders.toTable((o) => o.amount % 5, { name: 'by-bucket', partitions: 3 });
  byBucket.toStream().to(placeholderSink('bucket-changes'), json);
  const d = new TestDriver(app);

  const rnd = mulberry32(77);
  const all: Order[] = Array.from({ length: 500 }, (_, id) => ({ id, customer: `c${int(rnd, 0, 14)}`, amount: int(rnd, 1, 1000) }));
  for (let i = 0; i < all.length; ) {
    const n = int(rnd, 1, 30);
    d.send('orders', all.slice(i, i + n), { partition: int(rnd, 0, 1) });
    i += n;
  }
  const refLast = referenceTable(all.map((o) => ({ key: o.customer, value: o })));
  const refBucket = referenceTable(all.map((o) => ({ key: String(o.amount % 5), value: o })));
  assert.deepEqual(d.table('last-order'), refLast.rows);
  assert.deepEqual(d.output('last-changes'), refLast.changes);
  assert.deepEqual(d.table('by-bucket'), refBucket.rows);
  assert.deepEqual(d.output('bucket-changes'), refBucket.changes);
  assert.deepEqual([...d.table('by-bucket').keys()].sort(), ['0', '1', '2', '3', '4']);
  assert.equal(d.state('last-order').size, refLast.rows.size);
});
