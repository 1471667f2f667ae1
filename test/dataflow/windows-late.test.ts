// Property tests for late events (side output, corrections), session merges
// and dedupe, against the brute-force references of
// test/helpers/window-reference.ts. On-time behaviour is in windows.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { hopping, session, sliding, tumbling, type WindowSpec } from '../../src/dataflow/windows.ts';
import { TestDriver } from '../../src/runtime/testing/test-driver.ts';
import { json } from '../../src/codec.ts';
import { placeholderSink, placeholderSource } from '../helpers/placeholder-connectors.ts';
import {
  checkWindows,
  fixedWindowsOf,
  fold,
  generate,
  int,
  mulberry32,
  referenceDedupe,
  referenceFixed,
  referenceSessions,
  referenceSliding,
  runWindows,
  sendInChunks,
  watermarksBefore,
  windowApp,
  type Ev,
  type FixedSpec,
  type LateRules,
  type Rand,
  type Reference,
  type Result,
} from '../helpers/window-reference.ts';

function reference(spec: WindowSpec, events: Ev[], wms: number[], rules: LateRules): Reference {
  if (spec.type === 'sliding') return referenceSliding(spec.size, events, wms, rules);
  if (spec.type === 'session') return referenceSessions(spec.gap, events, wms, rules);
  return referenceFixed(spec as FixedSpec, events, wms, rules);
}

/** The session results a consumer ends with equal the reference's sessions. */
function checkSessions(results: Result[], ref: Reference, label: string): void {
  const order = (x: unknown[], y: unknown[]) => JSON.stringify(x).localeCompare(JSON.stringify(y));
  const got = [...fold(results).values()].map((r) => [r.key, r.start, r.end, r.value]).sort(order);
  assert.deepEqual(got, ref.windows.map((w) => [w.key, w.start, w.end, w.all]).sort(order), `${label}: sessions`);
  const kinds = new Map<string, string>();
  for (const r of results) kinds.set(`${r.key}|${r.start}|${r.end}`, (kinds.get(`${r.key}|${r.start}|${r.end}`) ?? '') + r.kind[0]);
  for (const [id, k] of kinds) assert.match(k, /^e*f?c*$/, `${label}: ${id} results in order early, final, corrections`);
}

const specs: [string, WindowSpec][] = [
  ['tumbling', tumbling(100)],
  ['hopping', hopping(90, 40, { offsetMs: 5 })],
  ['sliding', sliding(60)],
  ['session', session(25)],
];

const cases = [
  { seed: 11, delay: 0, lateness: 0, partitions: 1 },
  { seed: 12, delay: 30, lateness: 40, partitions: 1 },
  { seed: 13, delay: 20, lateness: 0, partitions: 3 },
];

function input(rnd: Rand, partitions: number): Ev[] {
  return generate(rnd, { n: 300, keys: 4, partitions, step: 10, disorder: 250 });
}

for (const [name, spec] of specs) {
  test(`${name}: side-output emits exactly the late events; the results are those of the on-time ones`, () => {
    let lateSeen = 0;
    let partial = 0;
    for (const c of cases) {
      const rnd = mulberry32(c.seed + name.length * 100);
      const events = input(rnd, c.partitions);
      const wms = watermarksBefore(events, c.delay);
      const ref = reference(spec, events, wms, { lateness: c.lateness, policy: 'side-output', retain: 0 });
      const run = runWindows(spec, { allowedLatenessMs: c.lateness, late: 'side-output' }, events, c.delay, rnd, 50);
      const label = `seed ${c.seed}`;
      const got = run.late.map((l) => ({ id: l.value.id, watermark: l.watermark, windows: l.windows.map((w) => ({ start: w.start, end: w.end })) }));
      assert.deepEqual(got, ref.late, `${label}: the late events, in arrival order, with their watermark and closed windows`);
      const byId = new Map(events.map((e) => [e.id, e]));
      assert.ok(run.late.every((l) => l.key === byId.get(l.value.id)!.k && l.timestamp === byId.get(l.value.id)!.ts && l.reason.length > 0), `${label}: key, timestamp, reason`);
      assert.equal(run.lateDropped, 0, `${label}: side-output drops nothing`);
      if (spec.type === 'session') checkSessions(run.results, ref, label);
      else checkWindows(run.results, ref, { early: false, exact: spec.type !== 'sliding' });
      lateSeen += ref.late.length;
      // Hopping: an event can be late for its earlier windows only; it still counts in the later ones, and in `late-partial`.
      assert.equal(run.latePartial, ref.partial ?? 0, `${label}: late-partial`);
      assert.ok(run.late.every((l) => spec.type === 'session' || spec.type === 'sliding' || l.windows.length === fixedWindowsOf(spec as never, l.timestamp).length), `${label}: only events no window took are late`);
      partial += ref.partial ?? 0;
    }
    assert.ok(lateSeen > 20, `late events happen (${lateSeen})`);
    if (spec.type === 'hopping') assert.ok(partial > 5, `events late for some of their windows only (${partial})`);
  });

  test(`${name}: 'correct' revises closed windows within retainMs, drops (and counts) later events`, () => {
    let corrections = 0;
    let dropped = 0;
    for (const c of cases) {
      for (const retainMs of [undefined, 30, 200]) {
        const retain = retainMs ?? (spec.type === 'session' ? spec.gap : (spec as { size: number }).size);
        const rnd = mulberry32(c.seed * 31 + retain + name.length);
        const events = input(rnd, c.partitions);
        const wms = watermarksBefore(events, c.delay);
        const ref = reference(spec, events, wms, { lateness: c.lateness, policy: 'correct', retain });
        const early = c.seed === 12 ? ('every-event' as const) : undefined;
        const options = { allowedLatenessMs: c.lateness, late: 'correct' as const, retainMs, emit: { early } };
        const run = runWindows(spec, options, events, c.delay, rnd, 40);
        const again = runWindows(spec, options, events, c.delay, rnd, 1);
        const label = `seed ${c.seed}, retain ${retain}`;
        assert.deepEqual(again.results, run.results, `${label}: batching does not matter`);
        assert.equal(run.lateDropped, ref.late.length, `${label}: late-dropped counts the events beyond retention`);
        assert.deepEqual(run.late, [], `${label}: nothing goes to the side output`);
        if (spec.type === 'session') checkSessions(run.results, ref, label);
        else checkWindows(run.results, ref, { early: early !== undefined, exact: spec.type !== 'sliding' });
        assert.equal(run.driver.state('win').size, 0, `${label}: no state after the end`);
        assert.equal(run.driver.timers('win').keys, 0, `${label}: no timers after the end`);
        corrections += run.results.filter((r) => r.kind === 'correction').length;
        dropped += ref.late.length;
      }
    }
    assert.ok(corrections > 20 && dropped > 20, `corrections (${corrections}) and drops beyond retention (${dropped}) both happen`);
  });
}

test('a late event within the allowed lateness bridges two sessions: the merged result replaces both', () => {
  const d = new TestDriver(windowApp(session(10), { allowedLatenessMs: 100, emit: { early: 'every-event' } }, { delay: 0 }));
  const ev = (id: number, k: string, ts: number): Ev => ({ id, k, ts, v: 1, p: 0 });
  d.send('in', [ev(1, 'a', 0), ev(2, 'a', 15), ev(3, 'z', 105)]);
  assert.deepEqual(
    d.output<Result>('out').map((r) => [r.key, r.start, r.end, r.kind, r.revision]),
    [['a', 0, 10, 'early', 1], ['a', 15, 25, 'early', 1], ['z', 105, 115, 'early', 1]],
  );
  d.send('in', [ev(4, 'a', 8)]); // watermark 105: later than both sessions' ends, within their lateness
  assert.deepEqual(d.output<Result>('out'), [{ key: 'a', start: 0, end: 25, value: [1, 2, 4], kind: 'early', revision: 2, replaces: [{ start: 0, end: 10 }, { start: 15, end: 25 }] }]);
  d.endInput();
  const finals = d.output<Result>('out');
  assert.deepEqual(finals.map((r) => [r.key, r.start, r.end, r.kind, r.revision, r.value]), [['a', 0, 25, 'final', 3, [1, 2, 4]], ['z', 105, 115, 'final', 2, [3]]]);
  assert.deepEqual(d.counters()['win'] ?? {}, {});
});

test("under 'correct', a late event bridging two closed sessions emits one correction replacing both finals", () => {
  const d = new TestDriver(windowApp(session(10), { late: 'correct', retainMs: 50 }, { delay: 0 }));
  const ev = (id: number, k: string, ts: number): Ev => ({ id, k, ts, v: 1, p: 0 });
  d.send('in', [ev(1, 'a', 0), ev(2, 'a', 15), ev(3, 'z', 30)]);
  assert.deepEqual(d.output<Result>('out').map((r) => [r.start, r.end, r.kind, r.revision]), [[0, 10, 'final', 1], [15, 25, 'final', 1]]);
  d.send('in', [ev(4, 'a', 8)]);
  assert.deepEqual(d.output<Result>('out'), [{ key: 'a', start: 0, end: 25, value: [1, 2, 4], kind: 'correction', revision: 2, replaces: [{ start: 0, end: 10 }, { start: 15, end: 25 }] }]);
  d.send('in', [ev(5, 'z', 80), ev(6, 'a', 9)]); // the watermark (80) passed 25 + 50: no more corrections
  assert.equal(d.counters()['win']?.['late-dropped'], 1);
});

test('a merge that absorbs a retained session keeps the timer of another session due at the same time', () => {
  // a's session [0,10) closes at 10 and is retained until 40; [25,40) closes at 40 too.
  const d = new TestDriver(windowApp(session(10), { late: 'correct', retainMs: 30 }, { delay: 0 }));
  const ev = (id: number, k: string, ts: number): Ev => ({ id, k, ts, v: 1, p: 0 });
  d.send('in', [ev(1, 'a', 0), ev(2, 'a', 25), ev(3, 'a', 30)]);
  assert.deepEqual(d.output<Result>('out').map((r) => [r.start, r.end, r.kind]), [[0, 10, 'final']]);
  d.send('in', [ev(4, 'a', 5)]); // correction of [0,10) → [0,15)
  assert.deepEqual(d.output<Result>('out').map((r) => [r.start, r.end, r.kind, r.replaces]), [[0, 15, 'correction', [{ start: 0, end: 10 }]]]);
  d.send('in', [ev(5, 'z', 41)]);
  assert.deepEqual(d.output<Result>('out').map((r) => [r.key, r.start, r.end, r.kind, r.value]), [['a', 25, 40, 'final', [2, 3]]], 'closes when the watermark passes 40');
});

function dedupeInput(rnd: Rand, n: number, within: number): Ev[] {
  const out: Ev[] = [];
  let front = 1_000_000;
  for (let id = 0; id < n; id++) {
    front += int(rnd, 0, 10);
    // A retry of a recent request: its own time, near the original's, sometimes far beyond the horizon.
    const prior = out.length > 0 && rnd() < 0.5 ? out[int(rnd, Math.max(0, out.length - 80), out.length - 1)]! : null;
    const ts = prior ? prior.ts + int(rnd, -within, 3 * within) : front - int(rnd, 0, 200);
    out.push({ id, k: prior ? prior.k : `r${id}`, ts, v: 1, p: int(rnd, 0, 1) });
  }
  return out;
}

test('dedupe passes exactly the reference events, however the input is batched', () => {
  let dups = 0;
  for (const [seed, within, delay] of [
    [1, 100, 0],
    [2, 100, 80],
    [3, 300, 20],
    [4, 30, 150],
  ] as const) {
    const rnd = mulberry32(seed);
    const events = dedupeInput(rnd, 600, within);
    const expected = referenceDedupe(events, watermarksBefore(events, delay), (e) => e.k, within);
    for (const maxChunk of [1, 25, 600]) {
      const app = new Application('dedupe');
      app
        .pipeline('p')
        .from(placeholderSource('in'), json<Ev>(), { timestamp: (e) => e.ts, watermark: { maxOutOfOrderMs: delay } })
        .dedupe((e) => e.k, within, { name: 'dd' })
        .to(placeholderSink('out'), json);
      const d = new TestDriver(app);
      sendInChunks(d, events, rnd, maxChunk);
      const label = `seed ${seed}, within ${within}, delay ${delay}, batches of up to ${maxChunk}`;
      assert.deepEqual(d.output<Ev>('out').map((e) => e.id), expected, label);
      assert.equal(d.counters()['dd']?.['duplicates'] ?? 0, events.length - expected.length, `${label}: duplicates`);
      d.endInput();
      assert.equal(d.state('dd').size, 0, `${label}: ids forgotten at the end`);
    }
    dups += events.length - expected.length;
  }
  assert.ok(dups > 100, `the input has duplicates (${dups})`);
});
