// Stream-table and table-table joins against the brute-force references of
// test/helpers/join-reference.ts, on seeded random interleavings of table
// updates, deletions and events. Stream-stream joins are in
// joins-windowed.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { TestDriver } from '../../src/runtime/testing/test-driver.ts';
import { json } from '../../src/codec.ts';
import type { Change } from '../../src/dataflow/table.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { foldChanges, int, joinTables, mulberry32, referenceStreamTable, sendInOrder, watermarksBefore, type Arrival, type Rand, type StInput } from '../helpers/join-reference.ts';

// ---- stream-table ------------------------------------------------------------

interface Row {
  ver: number;
}

interface Req {
  id: number;
  key: string;
  ts: number;
}

interface Enriched {
  id: number;
  key: string;
  ver: number | null;
}

function streamTableApp(o: { left: boolean; waitMs: number; delay: number }): Application {
  const app = new Application('stream-table');
  const p = app.pipeline('p');
  const watermark = { maxOutOfOrderMs: o.delay };
  const table = p.table(placeholderSource('rows'), json<Row>(), { name: 'rows', watermark });
  const events = p.from(placeholderSource('events'), json<Req>(), { timestamp: (e) => e.ts, watermark });
  const options = { key: (e: Req) => e.key, waitMs: o.waitMs, name: 'enrich' };
  const enriched = o.left
    ? events.leftJoin(table, { ...options, fn: (e, row: Row | null, key): Enriched => ({ id: e.id, key, ver: row?.ver ?? null }) })
    : events.join(table, { ...options, fn: (e, row, key): Enriched => ({ id: e.id, key, ver: row.ver }) });
  enriched.to(placeholderSink('out'), json);
  return app;
}

type StArrival = StInput & Arrival;

/** Table updates (a quarter deletes) and events over a few keys, event times trailing a moving front. */
function interleaving(rnd: Rand, n: number, keys: number, disorder: number): StArrival[] {
  let front = 10_000;
  return Array.from({ length: n }, (_, i): StArrival => {
    front += int(rnd, 0, 20);
    const key = `k${int(rnd, 0, keys - 1)}`;
    if (rnd() < 0.3) return { kind: 'row', key, row: rnd() < 0.25 ? null : { ver: i }, ts: front, input: 'rows', partition: 0 };
    const ts = rnd() < 0.5 ? front : front - int(rnd, 0, disorder);
    return { kind: 'event', id: i, key, ts, input: 'events', partition: int(rnd, 0, 1) };
  });
}

const toRecord = (a: StArrival) =>
  a.kind === 'row' ? { key: a.key, value: a.row, timestamp: a.ts, partition: a.partition } : { value: { id: a.id, key: a.key, ts: a.ts }, timestamp: a.ts, partition: a.partition };

for (const left of [false, true]) {
  for (const waitMs of [0, 150]) {
    const kind = `${left ? 'left' : 'inner'} join, waitMs ${waitMs}`;
    test(`stream-table ${kind}: each event gets the row current when it is processed, as the reference replays the interleaving`, () => {
      let waited = 0;
      let noRow = 0;
      for (const [seed, keys, delay, maxChunk] of [
        [1, 3, 0, 1],
        [2, 6, 50, 8],
        [3, 12, 20, 40],
        [4, 6, 200, 3],
      ] as const) {
        const rnd = mulberry32(seed * 31 + waitMs + (left ? 1 : 0));
        const inputs = interleaving(rnd, 700, keys, 120);
        const wms = watermarksBefore(inputs, ['rows', 'events'], delay);
        const ref = referenceStreamTable(inputs, wms, { left, waitMs });
        const label = `seed ${seed}, ${keys} keys, delay ${delay}`;
        const d = new TestDriver(streamTableApp({ left, waitMs, delay }));
        sendInOrder(d, inputs, toRecord, rnd, maxChunk);
        const beforeEnd = d.outputRecords<Enriched>('out');
        d.endInput();
        const recs = [...beforeEnd, ...d.outputRecords<Enriched>('out')];

        const got = new Map(recs.map((r) => [r.value.id, r.value.ver]));
        assert.equal(got.size, recs.length, `${label}: each event comes out at most once`);
        assert.deepEqual(new Map([...got].sort((a, b) => a[0] - b[0])), new Map([...ref.out].sort((a, b) => a[0] - b[0])), `${label}: the row each event was joined with`);
        const byId = new Map(inputs.flatMap((x) => (x.kind === 'event' ? [[x.id, x]] : [])));
        for (const r of recs) {
          const e = byId.get(r.value.id)!;
          assert.equal(r.value.key, e.key);
          assert.equal(r.key, e.key, `${label}: output keyed by the join key`);
          assert.equal(r.timestamp, e.ts, `${label}: output at the event's time`);
        }
        assert.equal(d.counters()['enrich']?.['unmatched'] ?? 0, ref.unmatched, `${label}: unmatched`);
        if (left) assert.equal(ref.unmatched, 0);

        // Nothing waits after the end; the join holds exactly the table's rows.
        const rows = d.table<Row>('rows');
        assert.deepEqual(d.state('enrich'), new Map([...rows].map(([k, v]) => [k, { t: v }])), `${label}: join state = the table's rows`);
        assert.deepEqual(d.timers('enrich'), { keys: 0, next: undefined }, `${label}: no timers left`);
        waited += ref.waitedAndMatched;
        noRow += left ? [...ref.out.values()].filter((v) => v === null).length : ref.unmatched;
      }
      if (waitMs > 0) assert.ok(waited > 50, `events waited for their row and got it (${waited})`);
      else assert.equal(waited, 0);
      assert.ok(noRow > 30, `events found no row (${noRow})`);
    });
  }
}

test('stream-table waitMs: an event waits for its row until the watermark passes ts + waitMs; later updates do not revise it', () => {
  for (const left of [false, true]) {
    const d = new TestDriver(streamTableApp({ left, waitMs: 100, delay: 0 }));
    const row = (key: string, ver: number | null, ts: number) => d.sendRecords('rows', [{ key, value: ver === null ? null : { ver }, timestamp: ts }]);
    const ev = (id: number, key: string, ts: number) => d.send('events', [{ id, key, ts }], { timestamp: ts });
    // The watermark is the minimum of both inputs': move both (key 'other' always has a row, so its events pass).
    const advance = (ts: number) => {
      row('other', ts, ts);
      ev(ts, 'other', ts);
    };
    const out = () => d.output<Enriched>('out').filter((r) => r.key !== 'other');
    row('other', 0, 1000);
    ev(1, 'a', 1000);
    ev(2, 'b', 1010);
    assert.deepEqual(out(), [], 'both wait');
    assert.equal(d.state<{ w?: unknown[] }>('enrich', 'a')?.w?.length, 1);
    row('a', 7, 1050);
    assert.deepEqual(out(), [{ id: 1, key: 'a', ver: 7 }], 'the row arrived: event 1 resolves with it');
    row('a', 8, 1060);
    ev(3, 'a', 1060);
    assert.deepEqual(out(), [{ id: 3, key: 'a', ver: 8 }], 'event 1 is not revised; event 3 gets the current row');
    advance(1109);
    assert.equal(d.watermark, 1109);
    assert.deepEqual(out(), [], 'watermark 1109: event 2 (1010 + 100) still waits');
    advance(1110);
    assert.deepEqual(out(), left ? [{ id: 2, key: 'b', ver: null }] : [], 'watermark 1110: event 2 gives up');
    assert.equal(d.counters()['enrich']?.['unmatched'], left ? undefined : 1);
    row('b', 9, 1111);
    assert.deepEqual(out(), [], 'a row after the wait changes nothing');
    row('a', null, 1120);
    ev(4, 'a', 1000);
    assert.deepEqual(out(), left ? [{ id: 4, key: 'a', ver: null }] : [], 'deleted row, and ts + waitMs already passed: decided at once');
    assert.equal(d.counters()['enrich']?.['unmatched'], left ? undefined : 2);
    assert.equal(d.state('enrich', 'a'), undefined, 'a deleted row and nothing waiting: no state');
  }
});

// ---- table-table -------------------------------------------------------------

interface Joined {
  x: number;
  y: number | null;
}

function tableTableApp(left: boolean): Application {
  const app = new Application('table-table');
  const p = app.pipeline('p');
  const a = p.table(placeholderSource('a-log'), json<{ x: number }>(), { name: 'a' });
  const b = p.table(placeholderSource('b-log'), json<{ y: number }>(), { name: 'b' });
  const joined = left ? a.leftJoin(b, (ra, rb): Joined => ({ x: ra.x, y: rb?.y ?? null }), { name: 'ab' }) : a.join(b, (ra, rb): Joined => ({ x: ra.x, y: rb.y }), { name: 'ab' });
  joined.toStream().to(placeholderSink('changes'), json);
  joined.to(placeholderSink('compacted'), json);
  return app;
}

const joinFn = (ra: { x: number }, rb: { y: number } | null): Joined => ({ x: ra.x, y: rb?.y ?? null });

for (const left of [false, true]) {
  test(`table-table ${left ? 'left' : 'inner'} join: after every update or delete, the join's table and its change stream equal the reference's join`, () => {
    let leaves = 0;
    for (const [seed, keys] of [
      [1, 3],
      [2, 8],
      [3, 25],
    ] as const) {
      const rnd = mulberry32(seed * 13 + (left ? 1 : 0));
      const d = new TestDriver(tableTableApp(left));
      const ra = new Map<string, { x: number }>();
      const rb = new Map<string, { y: number }>();
      const seen = new Map<string, Joined>();
      for (let step = 0; step < 400; step++) {
        const key = `k${int(rnd, 0, keys - 1)}`;
        const side = rnd() < 0.5 ? 'a' : 'b';
        const del = rnd() < 0.3;
        const before = joinTables(ra, rb, left, joinFn);
        if (side === 'a') {
          if (del) ra.delete(key);
          else ra.set(key, { x: step });
          d.sendRecords('a-log', [{ key, value: del ? null : { x: step } }]);
        } else {
          if (del) rb.delete(key);
          else rb.set(key, { y: step });
          d.sendRecords('b-log', [{ key, value: del ? null : { y: step } }]);
        }
        const want = joinTables(ra, rb, left, joinFn);
        const label = `seed ${seed}, step ${step} (${del ? 'delete' : 'update'} ${side} ${key})`;
        assert.deepEqual(d.table('ab'), want, `${label}: the join's rows`);

        const changes = d.output<Change<Joined>>('changes');
        const changed = JSON.stringify(before.get(key)) !== JSON.stringify(want.get(key));
        assert.equal(changes.length, changed ? 1 : 0, `${label}: one change exactly when the key's joined row changed`);
        if (changed) assert.deepEqual(changes[0], { key, value: want.get(key) ?? null, old: before.get(key) ?? null }, label);
        if (changed && !want.has(key)) leaves++;
        foldChanges(changes, seen);
        assert.deepEqual(seen, want, `${label}: the change stream folds to the join`);

        // The sink's codec is table.to()'s encoder only: the driver hands back the bytes as text.
        const compacted = d.outputRecords<Joined | null>('compacted');
        assert.deepEqual(
          compacted.map((r) => [r.key, r.value]),
          changes.map((c) => [c.key, c.value]),
          `${label}: table.to() writes each change, a tombstone for a deletion`,
        );
        assert.deepEqual(new Set(d.state('ab-sides').keys()), new Set([...ra.keys(), ...rb.keys()]), `${label}: sides state only for keys with a row`);
        assert.deepEqual(new Set(d.state('ab').keys()), new Set(want.keys()), `${label}: joined state only for joined keys`);
      }
    }
    assert.ok(leaves > 40, `keys left the join (${leaves})`);
  });
}

test('table-table join: batching the updates changes nothing at the end', () => {
  for (const left of [false, true]) {
    const rnd = mulberry32(left ? 5 : 6);
    const ops = Array.from({ length: 600 }, (_, i) => ({ side: rnd() < 0.5 ? 'a-log' : 'b-log', key: `k${int(rnd, 0, 9)}`, value: rnd() < 0.3 ? null : i }));
    const run = (maxChunk: number) => {
      const d = new TestDriver(tableTableApp(left));
      const arrivals = ops.map((o) => ({ ...o, input: o.side, partition: 0, ts: 0 }));
      sendInOrder(d, arrivals, (o) => ({ key: o.key, value: o.value === null ? null : o.side === 'a-log' ? { x: o.value } : { y: o.value } }), rnd, maxChunk);
      return { table: d.table('ab'), folded: foldChanges(d.output<Change<Joined>>('changes')) };
    };
    const ra = new Map<string, { x: number }>();
    const rb = new Map<string, { y: number }>();
    for (const o of ops) {
      const m = (o.side === 'a-log' ? ra : rb) as Map<string, unknown>;
      if (o.value === null) m.delete(o.key);
      else m.set(o.key, o.side === 'a-log' ? { x: o.value } : { y: o.value });
    }
    const want = joinTables(ra, rb, left, joinFn);
    for (const maxChunk of [1, 10, 100]) {
      const got = run(maxChunk);
      assert.deepEqual(got.table, want, `${left ? 'left' : 'inner'}, chunks of up to ${maxChunk}: rows`);
      assert.deepEqual(got.folded, want, `${left ? 'left' : 'inner'}, chunks of up to ${maxChunk}: folded changes`);
    }
  }
});
