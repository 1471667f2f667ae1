// Property tests for windows: random out-of-order input over several keys and
// input partitions, sent in random batches, against the brute-force
// references of test/helpers/window-reference.ts. Late policies other than
// drop, sessions' merges and dedupe are in windows-late.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { calendar, hopping, session, sliding, tumbling, type WindowSpec } from '../../src/dataflow/windows.ts';
import { TestDriver } from '../../src/runtime/testing/test-driver.ts';
import { json } from '../../src/codec.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import {
  checkWindows,
  fold,
  generate,
  int,
  mulberry32,
  referenceFixed,
  referenceSessions,
  referenceSliding,
  runWindows,
  watermarksBefore,
  windowApp,
  type Ev,
  type FixedSpec,
  type Reference,
  type Result,
} from '../helpers/window-reference.ts';

const DAY = 86_400_000;

function reference(spec: WindowSpec, events: Ev[], wms: number[], lateness: number): Reference {
  const rules = { lateness, policy: 'drop' as const, retain: 0 };
  if (spec.type === 'sliding') return referenceSliding(spec.size, events, wms, rules);
  if (spec.type === 'session') return referenceSessions(spec.gap, events, wms, rules);
  return referenceFixed(spec as FixedSpec, events, wms, rules);
}

const specs: [string, WindowSpec][] = [
  ['tumbling', tumbling(100, { offsetMs: 7 })],
  ['hopping', hopping(100, 30)],
  ['sliding', sliding(60)],
  ['session', session(25)],
];

for (const [name, spec] of specs) {
  test(`${name}: final results equal the reference on random out-of-order input, however it is batched`, () => {
    let lateSeen = 0;
    let windowsSeen = 0;
    for (const [seed, delay, lateness, partitions] of [
      [1, 0, 0, 1],
      [2, 40, 0, 1],
      [3, 0, 50, 3],
      [4, 40, 50, 3],
      [5, 300, 0, 4],
    ] as const) {
      const rnd = mulberry32(seed * 7919 + name.length);
      const events = generate(rnd, { n: 300, keys: 5, partitions, step: 10, disorder: 120 });
      const wms = watermarksBefore(events, delay);
      const ref = reference(spec, events, wms, lateness);
      const options = { allowedLatenessMs: lateness };
      const a = runWindows(spec, options, events, delay, rnd, 1);
      const b = runWindows(spec, options, events, delay, rnd, 80);
      const label = `seed ${seed}, delay ${delay}, lateness ${lateness}, ${partitions} partitions`;
      assert.deepEqual(b.results, a.results, `${label}: the same results in the same order, one event per batch or many`);
      assert.equal(a.lateDropped, ref.late.length, `${label}: late-dropped`);
      assert.ok(a.results.every((r) => r.kind === 'final' && r.replaces === undefined), `${label}: only finals`);
      if (spec.type === 'session') {
        const got = [...fold(a.results).values()].map((r) => [r.key, r.start, r.end, r.value]);
        const want = ref.windows.map((w) => [w.key, w.start, w.end, w.all]);
        const order = (x: unknown[], y: unknown[]) => JSON.stringify(x).localeCompare(JSON.stringify(y));
        assert.deepEqual(got.sort(order), want.sort(order), `${label}: sessions`);
      } else {
        checkWindows(a.results, ref, { early: false, exact: spec.type !== 'sliding' });
      }
      assert.equal(a.driver.state('win').size, 0, `${label}: no state left at the end`);
      lateSeen += ref.late.length;
      windowsSeen += ref.windows.length;
    }
    assert.ok(lateSeen > 10 && windowsSeen > 100, `the inputs exercise late events (${lateSeen}) and many windows (${windowsSeen})`);
  });
}

test('output records are keyed by the stream key and timestamped end - 1', () => {
  const rnd = mulberry32(99);
  const events = generate(rnd, { n: 100, keys: 3, partitions: 1, step: 10, disorder: 0 });
  const d = new TestDriver(windowApp(tumbling(50), {}, { delay: 0 }));
  d.sendRecords('in', events.map((e) => ({ value: e })));
  d.endInput();
  const recs = d.outputRecords<Result>('out');
  assert.ok(recs.length > 10);
  for (const r of recs) {
    assert.equal(r.key, r.value.key);
    assert.equal(r.timestamp, r.value.end - 1);
  }
});

test('calendar months (UTC) equal the reference over two years of out-of-order input', () => {
  const rnd = mulberry32(2024);
  const events = generate(rnd, { n: 400, keys: 3, partitions: 2, step: 3 * DAY, disorder: 20 * DAY, start: Date.UTC(2023, 0, 1) });
  for (const [delay, lateness] of [
    [5 * DAY, 2 * DAY],
    [0, 0],
  ] as const) {
    const wms = watermarksBefore(events, delay);
    const ref = referenceFixed({ type: 'calendar', unit: 'month' }, events, wms, { lateness, policy: 'drop', retain: 0 });
    const run = runWindows(calendar('month'), { allowedLatenessMs: lateness }, events, delay, rnd, 30);
    checkWindows(run.results, ref, { early: false, exact: true });
    assert.equal(run.lateDropped, ref.late.length);
    assert.ok(run.results.some((r) => r.end - r.start === 29 * DAY), 'February 2024 is a 29-day window');
    if (delay === 0) assert.ok(ref.late.length > 20, 'without out-of-orderness allowed, many events are late');
  }
  const years = referenceFixed({ type: 'calendar', unit: 'year' }, events, watermarksBefore(events, 60 * DAY), { lateness: 0, policy: 'drop', retain: 0 });
  checkWindows(runWindows(calendar('year'), {}, events, 60 * DAY, rnd, 50).results, years, { early: false, exact: true });
});

for (const [name, spec] of specs) {
  test(`${name}: early results on every event lead up to the final`, () => {
    const rnd = mulberry32(31 + name.length);
    const events = generate(rnd, { n: 250, keys: 4, partitions: 2, step: 10, disorder: 80 });
    const delay = 30;
    const lateness = 20;
    const wms = watermarksBefore(events, delay);
    const ref = reference(spec, events, wms, lateness);
    const run = runWindows(spec, { allowedLatenessMs: lateness, emit: { early: 'every-event' } }, events, delay, rnd, 40);
    if (spec.type !== 'session') {
      checkWindows(run.results, ref, { early: true, exact: spec.type !== 'sliding' });
      return;
    }
    // Each accepted event changes exactly one session: one early result each, plus one final per session.
    const finals = run.results.filter((r) => r.kind === 'final');
    assert.equal(run.results.length - finals.length, events.length - ref.late.length);
    assert.equal(finals.length, ref.windows.length);
    const live = [...fold(run.results).values()];
    assert.ok(live.every((r) => r.kind === 'final'), 'every session ends with its final');
    const order = (x: unknown[], y: unknown[]) => JSON.stringify(x).localeCompare(JSON.stringify(y));
    assert.deepEqual(live.map((r) => [r.key, r.start, r.end, r.value]).sort(order), ref.windows.map((w) => [w.key, w.start, w.end, w.all]).sort(order));
    assert.ok(run.results.some((r) => (r.replaces?.length ?? 0) > 0), 'some early session results were replaced by merged ones');
  });
}

test('bounded state: an endless in-order stream keeps window, session, sliding and dedupe state (and timers) small', () => {
  const app = new Application('bounded');
  const s = app.pipeline('p').from(placeholderSource('in'), json<Ev>(), { timestamp: (e) => e.ts });
  const keyed = () => s.keyBy((e) => e.k);
  keyed().window(tumbling(1000)).count({ name: 'tum' }).to(placeholderSink('tum'), json);
  keyed().window(session(200)).count({ name: 'ses' }).to(placeholderSink('ses'), json);
  keyed().window(sliding(500)).count({ name: 'sli' }).to(placeholderSink('sli'), json);
  s.dedupe((e) => e.id % 50_000, 2000, { name: 'dd' }).to(placeholderSink('dd'), json);
  const d = new TestDriver(app);
  const ops = ['tum', 'ses', 'sli', 'dd'];
  const total = 100_000;
  const batch = 2000;
  const peak: Record<string, number> = {};
  for (let i = 0; i < total; i += batch) {
    const values: Ev[] = [];
    // Keys drift: each is used for ~500 events then never again; ids repeat after 50k events.
    for (let j = i; j < i + batch; j++) values.push({ id: j, k: `k${(j >> 6) + (j % 8)}`, ts: j * 10, v: 1, p: 0 });
    d.send('in', values);
    for (const o of ['tum', 'ses', 'sli', 'dd']) d.output(o);
    if (i % 10_000 === 0) {
      for (const op of ops) {
        const n = Math.max(d.state(op).size, d.timers(op).keys);
        peak[op] = Math.max(peak[op] ?? 0, n);
        assert.ok(n < (op === 'dd' ? 300 : 40), `${op}: ${d.state(op).size} keys of state, ${d.timers(op).keys} with timers after ${i} events`);
      }
    }
  }
  assert.ok(Object.values(peak).every((n) => n > 0), 'the checks saw live state');
  assert.equal(d.counters()['dd']?.['duplicates'] ?? 0, 0, 'ids repeat only far beyond the horizon');
  d.endInput();
  for (const op of ops) {
    assert.equal(d.state(op).size, 0, `${op}: no state after the end`);
    assert.deepEqual(d.timers(op), { keys: 0, next: undefined }, `${op}: no timers after the end`);
  }
});

test('idle partitions: a quiet declared partition holds results back until it goes idle, and rejoins when it sends again', () => {
  const d = new TestDriver(windowApp(tumbling(1000), {}, { delay: 0, idleTimeoutMs: 5000 }));
  d.declarePartitions('in', 2);
  const ev = (id: number, ts: number, p: number): Ev => ({ id, k: 'a', ts, v: 1, p });
  const send = (e: Ev) => d.sendRecords('in', [{ value: e, partition: e.p }]);
  const marks: number[] = [];
  // Partition 0 sends every second of wall clock, event times 0, 1000, ... ; partition 1 never.
  for (let i = 0; i < 5; i++) {
    send(ev(i, i * 1000 + 500, 0));
    assert.deepEqual(d.output('out'), [], `no final while partition 1 may still send (${i})`);
    marks.push(d.watermark);
    d.advanceTime(1000);
  }
  // At 5 s partition 1 has been quiet for its idle timeout; partition 0 sent 1 s ago.
  marks.push(d.watermark);
  const finals = d.output<Result>('out');
  assert.deepEqual(finals.map((r) => [r.start, r.value]), [[0, [0]], [1000, [1]], [2000, [2]], [3000, [3]]]);
  assert.equal(d.watermark, 4500);
  // Partition 1 comes back with old data: late (the watermark does not go back), and holds the watermark again.
  send(ev(10, 100, 1));
  assert.equal(d.counters()['win']?.['late-dropped'], 1);
  send(ev(11, 9500, 0));
  marks.push(d.watermark);
  assert.equal(d.watermark, 4500, 'partition 1 (at 100) holds the watermark');
  assert.deepEqual(d.output('out'), []);
  send(ev(12, 7200, 1));
  marks.push(d.watermark);
  assert.equal(d.watermark, 7200, 'min of the two partitions');
  assert.deepEqual(d.output<Result>('out').map((r) => [r.start, r.value]), [[4000, [4]]]);
  assert.deepEqual(marks, [...marks].sort((x, y) => x - y), 'the watermark never goes back');
});

test('an input that never delivers stops holding the watermark back once idle by the driver\'s clock', () => {
  const app = new Application('two-inputs');
  const p = app.pipeline('p');
  const opts = { timestamp: (e: Ev) => e.ts, watermark: { idleTimeoutMs: 5000 } };
  const a = p.from(placeholderSource('a'), json<Ev>(), opts);
  const b = p.from(placeholderSource('b'), json<Ev>(), opts);
  a.merge(b).keyBy((e) => e.k).window(tumbling(100)).count({ name: 'win' }).to(placeholderSink('out'), json);
  const d = new TestDriver(app, { startTime: 1_000_000 });
  const ev = (id: number, ts: number): Ev => ({ id, k: 'x', ts, v: 1, p: 0 });
  d.advanceTime(1000).send('a', [ev(1, 50), ev(2, 250)]);
  d.advanceTime(3000).send('a', [ev(3, 350)]);
  assert.deepEqual(d.output('out'), [], 'input b may still send');
  d.advanceTime(1000);
  assert.equal(d.watermark, 350, 'input b, quiet since the start, is idle; a is not');
  assert.deepEqual(d.output<Result>('out').map((r) => [r.start, r.value]), [[0, 1], [200, 1]]);
});

test('a process function with event-time timers: alert when a key is silent for 10 s; processing timers fire on advanceTime', () => {
  const app = new Application('silence');
  app
    .pipeline('p')
    .from(placeholderSource('in'), json<Ev>(), { timestamp: (e) => e.ts })
    .keyBy((e) => e.k)
    .process(
      () => ({ last: 0, seen: 0 }),
      (e, s, ctx) => {
        if (s.seen > 0) ctx.deleteTimer(s.last + 10_000);
        s.last = ctx.timestamp;
        s.seen++;
        ctx.timer(s.last + 10_000);
        ctx.processingTimer(ctx.now + 5000);
      },
      {
        name: 'silence',
        onTimer: (t, s, ctx) => {
          if (t.domain === 'processing') {
            ctx.emit({ key: ctx.key, wall: t.time, seen: s.seen });
            // onTimer gets a fresh state for a key whose state was cleared: do not keep it.
            if (s.seen === 0) ctx.clearState();
            return;
          }
          ctx.emit({ key: ctx.key, silentSince: s.last, seen: s.seen }, { timestamp: t.time });
          ctx.clearState();
        },
      },
    )
    .to(placeholderSink('alerts'), json);
  const rnd = mulberry32(7);
  const d = new TestDriver(app);
  // In order, one partition: each event's watermark is the previous event's time.
  const events: Ev[] = [];
  for (let id = 0, ts = 0; id < 400; id++) {
    ts += rnd() < 0.05 ? int(rnd, 5000, 15_000) : int(rnd, 0, 400);
    events.push({ id, k: `k${int(rnd, 0, 5)}`, ts, v: 1, p: 0 });
  }
  for (let i = 0; i < events.length; i += 37) d.sendRecords('in', events.slice(i, i + 37).map((e) => ({ value: e })));
  const expected: { key: string; silentSince: number; seen: number }[] = [];
  const byKey = new Map<string, { last: number; seen: number }>();
  events.forEach((e, i) => {
    const s = byKey.get(e.k);
    const w = i === 0 ? -Infinity : events[i - 1]!.ts;
    if (s && w >= s.last + 10_000) {
      expected.push({ key: e.k, silentSince: s.last, seen: s.seen });
      byKey.delete(e.k);
    }
    const t = byKey.get(e.k) ?? { last: 0, seen: 0 };
    byKey.set(e.k, { last: e.ts, seen: t.seen + 1 });
  });
  // After the last batch the watermark is the last event's time: the timers it reached fired too.
  for (const [key, s] of byKey) if (events.at(-1)!.ts >= s.last + 10_000) expected.push({ key, silentSince: s.last, seen: s.seen });
  const got = d.output<{ key: string; silentSince: number; seen: number }>('alerts');
  const order = (a: { key: string; silentSince: number }, b: { key: string; silentSince: number }) => a.silentSince - b.silentSince || a.key.localeCompare(b.key);
  assert.ok(expected.length > 5, 'the input has silences');
  assert.deepEqual([...got].sort(order), [...expected].sort(order));
  // Processing time has not moved: no wall-clock timer yet. Then each key with state gets one.
  const keysWithState = d.state('silence').size;
  d.advanceTime(4999);
  assert.deepEqual(d.output('alerts'), []);
  d.advanceTime(1);
  const wall = d.output<{ key: string; wall: number }>('alerts');
  assert.equal(wall.length, new Set(events.map((e) => e.k)).size, 'one processing timer per key ever seen (set at the same wall time)');
  assert.ok(wall.every((w) => w.wall === 5000));
  d.endInput();
  const last = d.output<{ key: string; silentSince: number }>('alerts');
  assert.equal(last.length, keysWithState, 'the end of input fires every pending silence timer');
  assert.equal(d.state('silence').size, 0, 'clearState in onTimer leaves no state');
});
