// Stream-stream (interval) joins against the brute-force reference of
// test/helpers/join-reference.ts: random out-of-order events on both sides,
// over several keys and input partitions, with a bounded-disorder watermark
// that some events fall behind (late). Every pair within the interval among
// the events that were not late comes out once; a left join adds each left
// event without a partner, with null; late events are counted or go to the
// side output; and nothing is left in state at the end.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { TestDriver, type TestOutputRecord } from '../../src/runtime/testing/test-driver.ts';
import { json } from '../../src/codec.ts';
import type { LateEvent } from '../../src/dataflow/windows.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import { generateSides, int, mulberry32, referenceIntervalJoin, sendInOrder, watermarksBefore, type Arrival, type Rand, type SideEvent } from '../helpers/join-reference.ts';

type Within = number | { before: number; after: number };

interface Options {
  left: boolean;
  within: Within;
  lateness: number;
  delay: number;
  late: 'drop' | 'side-output';
}

interface Pair {
  l: number;
  r: number | null;
}

function intervalApp(o: Options): Application {
  const app = new Application('interval');
  const p = app.pipeline('p');
  const from = (name: string) => p.from(placeholderSource(name), json<SideEvent>(), { timestamp: (e) => e.ts, watermark: { maxOutOfOrderMs: o.delay } });
  const ls = from('left');
  const rs = from('right');
  const options = { key: (e: SideEvent) => e.k, otherKey: (e: SideEvent) => e.k, within: o.within, allowedLatenessMs: o.lateness, late: o.late, lateOutput: 'too-late', name: 'j' };
  const out = o.left
    ? ls.leftJoin(rs, { ...options, fn: (l, r: SideEvent | null): Pair => ({ l: l.id, r: r?.id ?? null }) })
    : ls.join(rs, { ...options, fn: (l, r): Pair => ({ l: l.id, r: r.id }) });
  out.to(placeholderSink('out'), json);
  out.sideOutput<LateEvent<SideEvent>>('too-late').to(placeholderSink('late'), json);
  return app;
}

type SideArrival = SideEvent & Arrival;

function arrivals(rnd: Rand, n: number, keys: number, partitions: number): SideArrival[] {
  return generateSides(rnd, { n, keys, step: 8, disorder: 100 }).map((e) => ({ ...e, input: e.side === 'L' ? 'left' : 'right', partition: int(rnd, 0, partitions - 1) }));
}

interface Run {
  out: TestOutputRecord<Pair>[];
  late: LateEvent<SideEvent>[];
  counters: Record<string, number>;
  driver: TestDriver;
}

function run(o: Options, events: SideArrival[], rnd: Rand, maxChunk: number): Run {
  const d = new TestDriver(intervalApp(o));
  sendInOrder(d, events, (e) => ({ value: { id: e.id, side: e.side, k: e.k, ts: e.ts }, partition: e.partition }), rnd, maxChunk);
  d.endInput();
  return { out: d.outputRecords<Pair>('out'), late: d.output<LateEvent<SideEvent>>('late'), counters: d.counters()['j'] ?? {}, driver: d };
}

const bounds = (w: Within) => (typeof w === 'number' ? { before: w, after: w } : w);
const withins: Within[] = [30, { before: 0, after: 60 }, { before: 45, after: 10 }];

for (const left of [false, true]) {
  for (const within of withins) {
    test(`stream-stream ${left ? 'left' : 'inner'} join within ${JSON.stringify(within)}: the brute-force pairs among non-late events, however the input is split`, () => {
      const totals = { pairs: 0, alone: 0, late: 0 };
      for (const [seed, keys, delay, lateness, partitions, late] of [
        [1, 2, 0, 0, 1, 'drop'],
        [2, 5, 40, 0, 2, 'drop'],
        [3, 5, 20, 25, 1, 'side-output'],
        [4, 9, 150, 0, 2, 'side-output'],
        [5, 3, 60, 40, 2, 'drop'],
      ] as const) {
        const rnd = mulberry32(seed * 101 + (left ? 7 : 0) + JSON.stringify(within).length);
        const events = arrivals(rnd, 500, keys, partitions);
        const wms = watermarksBefore(events, ['left', 'right'], delay);
        const { before, after } = bounds(within);
        const ref = referenceIntervalJoin(events, wms, { before, after, lateness });
        const o: Options = { left, within, lateness, delay, late };
        const label = `seed ${seed}, ${keys} keys, delay ${delay}, lateness ${lateness}, ${late}`;
        const one = run(o, events, rnd, 1);
        const many = run(o, events, rnd, 60);
        assert.deepEqual(many.out, one.out, `${label}: the same outputs in the same order, one event per send or many`);
        assert.deepEqual(many.late, one.late, `${label}: the same late events`);

        const pairs = one.out.filter((r) => r.value.r !== null).map((r) => [r.value.l, r.value.r!] as [number, number]);
        assert.deepEqual(pairs.sort((x, y) => x[0] - y[0] || x[1] - y[1]), ref.pairs, `${label}: the pairs`);
        const alone = one.out.filter((r) => r.value.r === null).map((r) => r.value.l);
        assert.deepEqual(alone.sort((x, y) => x - y), left ? ref.alone : [], `${label}: left events without a partner`);

        const ts = new Map(events.map((e) => [e.id, e.ts]));
        for (const r of one.out) {
          const want = r.value.r === null ? ts.get(r.value.l)! : Math.max(ts.get(r.value.l)!, ts.get(r.value.r)!);
          assert.equal(r.timestamp, want, `${label}: ${JSON.stringify(r.value)} at the later of its events' times`);
          assert.equal(r.key, events.find((e) => e.id === r.value.l)!.k, `${label}: keyed by the join key`);
        }

        if (late === 'drop') {
          assert.equal(one.counters['late-dropped'] ?? 0, ref.late.length, `${label}: late-dropped`);
          assert.deepEqual(one.late, []);
        } else {
          assert.equal(one.counters['late-dropped'], undefined, `${label}: side-output late events are not counted as dropped`);
          assert.deepEqual(
            one.late.map((l) => ({ id: l.value.id, watermark: l.watermark })),
            ref.late,
            `${label}: the late events, with the watermark they met`,
          );
          for (const l of one.late) {
            const [b, a] = l.value.side === 'L' ? [before, after] : [after, before];
            assert.deepEqual([l.key, l.timestamp, l.windows], [l.value.k, l.value.ts, [{ start: l.value.ts - b, end: l.value.ts + a + 1 }]], `${label}: late event ${l.value.id}`);
          }
        }
        assert.equal(one.driver.state('j').size, 0, `${label}: no state after the end`);
        assert.deepEqual(one.driver.timers('j'), { keys: 0, next: undefined }, `${label}: no timers after the end`);
        totals.pairs += ref.pairs.length;
        totals.alone += ref.alone.length;
        totals.late += ref.late.length;
      }
      assert.ok(totals.pairs > 300 && totals.alone > 100 && totals.late > 30, `the inputs exercise pairs, lone left events and late events: ${JSON.stringify(totals)}`);
    });
  }
}

test('interval bounds are inclusive: a right event matches a left one at t when it is in [t - before, t + after]', () => {
  const d = new TestDriver(intervalApp({ left: true, within: { before: 10, after: 20 }, lateness: 0, delay: 1000, late: 'drop' }));
  const send = (input: string, id: number, ts: number) => d.send(input, [{ id, side: input === 'left' ? 'L' : 'R', k: 'a', ts }]);
  send('left', 1, 100);
  for (const [id, ts] of [
    [10, 89],
    [11, 90],
    [12, 120],
    [13, 121],
  ] as const)
    send('right', id, ts);
  send('left', 2, 95);
  assert.deepEqual(d.output('out'), [
    { l: 1, r: 11 },
    { l: 1, r: 12 },
    { l: 2, r: 10 },
    { l: 2, r: 11 },
  ]);
  d.endInput();
  assert.deepEqual(d.output('out'), [], 'both left events matched: no null rows');
});

test('a left event with no partner comes out with null once the watermark passes ts + after + lateness', () => {
  const d = new TestDriver(intervalApp({ left: true, within: { before: 5, after: 20 }, lateness: 10, delay: 0, late: 'drop' }));
  const send = (input: string, id: number, k: string, ts: number) => d.send(input, [{ id, side: input === 'left' ? 'L' : 'R', k, ts }]);
  send('left', 1, 'a', 100);
  send('right', 50, 'z', 100);
  send('left', 51, 'z', 130);
  assert.equal(d.watermark, 100);
  send('right', 52, 'z', 130);
  assert.equal(d.watermark, 130);
  assert.deepEqual(d.output('out'), [{ l: 51, r: 52 }], '100 + 20 + 10 = 130: its interval (and lateness) is not over yet');
  send('right', 53, 'z', 131);
  send('left', 54, 'z', 131);
  assert.equal(d.watermark, 131);
  assert.deepEqual(
    d.output('out').filter((p) => (p as Pair).l === 1),
    [{ l: 1, r: null }],
  );
});

test('an event behind the watermark (beyond the lateness) is late even if its own interval is still open', () => {
  // Right at 100 could match lefts in [100 - after, 100 + before] = [100, 110]; a left at 100 was let go at
  // watermark 101 (its interval [90, 100] closed). Taking the right event would silently miss that pair.
  const d = new TestDriver(intervalApp({ left: true, within: { before: 10, after: 0 }, lateness: 0, delay: 0, late: 'drop' }));
  const send = (input: string, id: number, k: string, ts: number) => d.send(input, [{ id, side: input === 'left' ? 'L' : 'R', k, ts }]);
  send('left', 1, 'k', 100);
  send('right', 2, 'z', 105);
  send('left', 3, 'z', 106);
  assert.equal(d.watermark, 105);
  assert.deepEqual(d.output('out'), [
    { l: 3, r: 2 },
    { l: 1, r: null },
  ]);
  send('right', 4, 'k', 100);
  assert.equal(d.counters()['j']?.['late-dropped'], 1, 'counted as late, not silently unmatched');
  send('right', 5, 'k', 105);
  assert.equal(d.counters()['j']?.['late-dropped'], 1, 'at the watermark exactly: on time');
  d.endInput();
  assert.deepEqual(d.output('out'), []);
});
