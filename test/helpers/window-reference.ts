// Brute-force references for the window and dedupe property tests: given every
// event in arrival order, compute what the operators must end up emitting.
// They are deliberately naive (loops over every event, every candidate window)
// and share no code with src/, so a bug in the operator is not also in its
// oracle. Also here: a seeded PRNG, an event generator and the driver plumbing
// the tests share.

import assert from 'node:assert/strict';
import { json } from '../../src/codec.ts';
import { Application } from '../../src/dataflow/application.ts';
import { TestDriver } from '../../src/runtime/testing/test-driver.ts';
import type { LateEvent, WindowOptions, WindowResult, WindowSpec } from '../../src/dataflow/windows.ts';
import { placeholderSink, placeholderSource } from './placeholder-connectors.ts';

/** mulberry32: a tiny seeded PRNG, so a failing case is reproducible from its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rand = () => number;

/** An integer in [lo, hi]. */
export const int = (rnd: Rand, lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));

export interface Ev {
  id: number;
  k: string;
  ts: number;
  v: number;
  /** Input partition it is sent on (not part of what the operators see as a key). */
  p: number;
}

export interface GenOptions {
  n: number;
  keys: number;
  partitions: number;
  /** Event time advances by [0, step] per event. */
  step: number;
  /** How far an event's time may lag the stream's front. */
  disorder: number;
  start?: number;
}

/** Events in arrival order whose times trail an advancing front by up to `disorder`. */
export function generate(rnd: Rand, o: GenOptions): Ev[] {
  const out: Ev[] = [];
  let front = o.start ?? 1_000_000;
  for (let id = 0; id < o.n; id++) {
    front += int(rnd, 0, o.step);
    const ts = rnd() < 0.5 ? front : front - int(rnd, 0, o.disorder);
    out.push({ id, k: `k${int(rnd, 0, o.keys - 1)}`, ts, v: int(rnd, 1, 9), p: int(rnd, 0, o.partitions - 1) });
  }
  return out;
}

/**
 * The watermark each event is stamped with: the job's watermark before it.
 * After each event, W = max(W, min over the partitions seen so far of (their
 * largest time - delay)).
 */
export function watermarksBefore(events: Ev[], delay: number): number[] {
  const maxTs = new Map<number, number>();
  let w = -Infinity;
  const out: number[] = [];
  for (const e of events) {
    out.push(w);
    maxTs.set(e.p, Math.max(maxTs.get(e.p) ?? -Infinity, e.ts));
    let min = Infinity;
    for (const m of maxTs.values()) min = Math.min(min, m - delay);
    w = Math.max(w, min);
  }
  return out;
}

export interface Bounds {
  start: number;
  end: number;
}

export interface LateRules {
  lateness: number;
  policy: 'drop' | 'side-output' | 'correct';
  /** Under 'correct': how long after closing a window still takes corrections. */
  retain: number;
}

type Verdict = 'on-time' | 'correction' | 'late';

/** What happens to an event stamped `w` for a window ending at `end`. */
function verdict(w: number, end: number, r: LateRules): Verdict {
  const closes = end + r.lateness;
  if (w < closes) return 'on-time';
  if (r.policy === 'correct' && w < closes + r.retain) return 'correction';
  return 'late';
}

export interface RefWindow {
  key: string;
  start: number;
  end: number;
  /** Ids in its final result (empty: it has no final, e.g. born from a correction). */
  onTime: number[];
  /** Ids in its last revision. */
  all: number[];
}

export interface RefLate {
  id: number;
  watermark: number;
  windows: Bounds[];
}

export interface Reference {
  windows: RefWindow[];
  /** Events no window took (dropped, side output). */
  late: RefLate[];
  /** Hopping: events late for some of their windows but taken by others (the `late-partial` counter). */
  partial?: number;
}

export type FixedSpec = { type: 'tumbling'; size: number; offset: number } | { type: 'hopping'; size: number; hop: number; offset: number } | { type: 'calendar'; unit: 'month' | 'year' };

/** Every fixed window holding t, by trying each candidate start around it. */
export function fixedWindowsOf(spec: FixedSpec, t: number): Bounds[] {
  const out: Bounds[] = [];
  if (spec.type === 'calendar') {
    for (let y = 1970; y < 2200; y++) {
      for (let m = 0; m < (spec.unit === 'year' ? 1 : 12); m++) {
        const start = Date.UTC(y, m, 1);
        const end = spec.unit === 'year' ? Date.UTC(y + 1, 0, 1) : Date.UTC(y, m + 1, 1);
        if (start <= t && t < end) out.push({ start, end });
      }
    }
    return out;
  }
  const step = spec.type === 'hopping' ? spec.hop : spec.size;
  const k0 = Math.floor((t - spec.offset) / step);
  for (let k = k0 - Math.ceil(spec.size / step) - 1; k <= k0 + 1; k++) {
    const start = spec.offset + k * step;
    if (start <= t && t < start + spec.size) out.push({ start, end: start + spec.size });
  }
  return out;
}

const byId = (a: number, b: number) => a - b;

/** Tumbling, hopping and calendar windows: each (event, window) pair decided on its own. */
export function referenceFixed(spec: FixedSpec, events: Ev[], wms: number[], rules: LateRules): Reference {
  const windows = new Map<string, RefWindow>();
  const late: RefLate[] = [];
  let partial = 0;
  events.forEach((e, i) => {
    const lateWindows: Bounds[] = [];
    for (const b of fixedWindowsOf(spec, e.ts)) {
      const v = verdict(wms[i]!, b.end, rules);
      if (v === 'late') {
        lateWindows.push(b);
        continue;
      }
      const id = `${e.k}|${b.start}|${b.end}`;
      if (!windows.has(id)) windows.set(id, { key: e.k, start: b.start, end: b.end, onTime: [], all: [] });
      const w = windows.get(id)!;
      w.all.push(e.id);
      if (v === 'on-time') w.onTime.push(e.id);
    }
    // Late only when no window took the event; otherwise the closed windows just miss it (counted apart).
    if (lateWindows.length === fixedWindowsOf(spec, e.ts).length) late.push({ id: e.id, watermark: wms[i]!, windows: lateWindows });
    else if (lateWindows.length > 0) partial++;
  });
  for (const w of windows.values()) {
    w.onTime.sort(byId);
    w.all.sort(byId);
  }
  return { windows: [...windows.values()], late, partial };
}

/** Sliding windows: one per accepted event time, holding the key's accepted events within `size` before it. */
export function referenceSliding(size: number, events: Ev[], wms: number[], rules: LateRules): Reference {
  const accepted: { e: Ev; w: number }[] = [];
  const late: RefLate[] = [];
  events.forEach((e, i) => {
    if (verdict(wms[i]!, e.ts + 1, rules) === 'late') late.push({ id: e.id, watermark: wms[i]!, windows: [{ start: e.ts - size + 1, end: e.ts + 1 }] });
    else accepted.push({ e, w: wms[i]! });
  });
  const windows = new Map<string, RefWindow>();
  for (const { e } of accepted) {
    const start = e.ts - size + 1;
    const end = e.ts + 1;
    const id = `${e.k}|${start}|${end}`;
    if (windows.has(id)) continue;
    const closes = end + rules.lateness;
    const members = accepted.filter((a) => a.e.k === e.k && a.e.ts >= start && a.e.ts < end);
    // A window born after it closed (from a correction) never had a final result.
    const bornOnTime = members.some((a) => a.e.ts === e.ts && a.w < closes);
    windows.set(id, {
      key: e.k,
      start,
      end,
      onTime: bornOnTime ? members.filter((a) => a.w < closes).map((a) => a.e.id).sort(byId) : [],
      all: members.map((a) => a.e.id).sort(byId),
    });
  }
  return { windows: [...windows.values()], late };
}

/**
 * Session windows, by replaying the operator's view: per key, the sessions
 * still held when each event arrives (closed ones are let go once the
 * watermark passes their end + lateness, + retain under 'correct'); the event
 * joins every held session it overlaps. The result lists the last version of
 * each session (`onTime` is left empty: a session's final depends on merges).
 */
export function referenceSessions(gap: number, events: Ev[], wms: number[], rules: LateRules): Reference {
  interface S {
    key: string;
    start: number;
    end: number;
    ids: number[];
  }
  const held = new Map<string, S[]>();
  const done: S[] = [];
  const late: RefLate[] = [];
  const hold = rules.lateness + (rules.policy === 'correct' ? rules.retain : 0);
  events.forEach((e, i) => {
    const w = wms[i]!;
    const kept: S[] = [];
    for (const s of held.get(e.k) ?? []) {
      if (w >= s.end + hold) done.push(s);
      else kept.push(s);
    }
    const joined = kept.filter((s) => e.ts < s.end && s.start < e.ts + gap);
    const merged: S = { key: e.k, start: e.ts, end: e.ts + gap, ids: [e.id] };
    for (const s of joined) {
      merged.start = Math.min(merged.start, s.start);
      merged.end = Math.max(merged.end, s.end);
      merged.ids.push(...s.ids);
    }
    if (verdict(w, merged.end, rules) === 'late') {
      late.push({ id: e.id, watermark: w, windows: [{ start: e.ts, end: e.ts + gap }] });
      held.set(e.k, kept);
      return;
    }
    held.set(e.k, [...kept.filter((s) => !joined.includes(s)), merged]);
  });
  for (const list of held.values()) done.push(...list);
  return { windows: done.map((s) => ({ key: s.key, start: s.start, end: s.end, onTime: [], all: s.ids.sort(byId) })), late };
}

/** Dedupe: the ids of the events let through. An id is remembered from its first pass until the watermark reaches first + within. */
export function referenceDedupe(events: Ev[], wms: number[], idOf: (e: Ev) => string, within: number): number[] {
  const first = new Map<string, number>();
  const passed: number[] = [];
  events.forEach((e, i) => {
    const f = first.get(idOf(e));
    if (f !== undefined && wms[i]! < f + within) return;
    first.set(idOf(e), e.ts);
    passed.push(e.id);
  });
  return passed;
}

// ---- Driver plumbing shared by the property tests ----

/** Window results carry the sorted ids of their events, the strongest thing to compare. */
export const idsAggregator = {
  init: (): number[] => [],
  add: (a: number[], e: Ev): number[] => [...a, e.id],
  merge: (a: number[], b: number[]): number[] => [...a, ...b],
  result: (a: number[]): number[] => [...a].sort(byId),
};

export interface WindowAppOptions {
  delay: number;
  idleTimeoutMs?: number;
}

/** in → keyBy(k) → window(spec).aggregate(ids) → out, with late events to the `late` output. */
export function windowApp(spec: WindowSpec, options: WindowOptions, wm: WindowAppOptions): Application {
  const app = new Application('windows-prop');
  const results = app
    .pipeline('p')
    .from(placeholderSource('in'), json<Ev>(), { timestamp: (e) => e.ts, watermark: { maxOutOfOrderMs: wm.delay, idleTimeoutMs: wm.idleTimeoutMs ?? 5000 } })
    .keyBy((e) => e.k)
    .window(spec, { name: 'win', ...options })
    .aggregate(idsAggregator);
  results.to(placeholderSink('out'), json);
  results.sideOutput<LateEvent<Ev>>(options.lateOutput ?? 'late').to(placeholderSink('late'), json);
  return app;
}

/** Sends `events` in arrival order, in random chunks (one send per chunk, each record on its partition). */
export function sendInChunks(d: TestDriver, events: Ev[], rnd: Rand, maxChunk: number): void {
  for (let i = 0; i < events.length; ) {
    const n = int(rnd, 1, maxChunk);
    d.sendRecords(
      'in',
      events.slice(i, i + n).map((e) => ({ value: e, partition: e.p })),
    );
    i += n;
  }
}

export type Result = WindowResult<number[]>;

export const boundsKey = (r: { key: string; start: number; end: number }): string => `${r.key}|${r.start}|${r.end}`;

/**
 * A consumer's view of a result stream: the latest result per window, with
 * the windows a merged session replaced removed. Checks on the way that a
 * window's revision only goes up, also across a merge.
 */
export function fold(results: Result[]): Map<string, Result> {
  const latest = new Map<string, Result>();
  for (const r of results) {
    let floor = latest.get(boundsKey(r))?.revision ?? 0;
    for (const x of r.replaces ?? []) {
      const id = boundsKey({ key: r.key, ...x });
      const old = latest.get(id);
      if (!old) throw new Error(`${boundsKey(r)} replaces ${id}, which was never emitted (or already replaced)`);
      floor = Math.max(floor, old.revision);
      latest.delete(id);
    }
    if (r.revision <= floor) throw new Error(`${boundsKey(r)}: revision ${r.revision} after ${floor}`);
    latest.set(boundsKey(r), r);
  }
  return latest;
}

/**
 * Checks a fixed or sliding window result stream against the reference, per
 * window: revisions 1..n with no gap, early* final? correction* in that
 * order, the final holding the on-time events and the last revision all of
 * them. `exact`: each accepted event is one early / correction result (fixed
 * windows; a sliding window also starts from the events before it).
 */
export function checkWindows(results: Result[], ref: Reference, o: { early: boolean; exact: boolean }): void {
  const groups = new Map<string, Result[]>();
  for (const r of results) {
    if (!groups.has(boundsKey(r))) groups.set(boundsKey(r), []);
    groups.get(boundsKey(r))!.push(r);
  }
  const expected = new Map(ref.windows.map((w) => [boundsKey(w), w]));
  const missing = [...expected.keys()].filter((k) => !groups.has(k));
  const extra = [...groups.keys()].filter((k) => !expected.has(k));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, 'the windows with results are the reference windows');
  for (const [id, rs] of groups) {
    const w = expected.get(id)!;
    assert.deepEqual(rs.map((r) => r.revision), rs.map((_, i) => i + 1), `${id}: revisions 1..n`);
    const kinds = rs.map((r) => r.kind[0]).join('');
    assert.match(kinds, /^e*f?c*$/, `${id}: early*, final, corrections (${kinds})`);
    const finals = rs.filter((r) => r.kind === 'final');
    if (w.onTime.length > 0) {
      assert.equal(finals.length, 1, `${id}: one final`);
      assert.deepEqual(finals[0]!.value, w.onTime, `${id}: the final holds the on-time events`);
      const early = rs.filter((r) => r.kind === 'early');
      if (o.early) {
        assert.ok(early.length > 0, `${id}: early results`);
        assert.deepEqual(early.at(-1)!.value, w.onTime, `${id}: the last early result is the final's`);
        if (o.exact) assert.equal(early.length, w.onTime.length, `${id}: one early result per event`);
      } else assert.equal(early.length, 0, `${id}: no early results`);
    } else assert.match(kinds, /^c+$/, `${id}: born after it closed, it only has corrections`);
    assert.deepEqual(rs.at(-1)!.value, w.all, `${id}: the last revision holds every accepted event`);
    if (o.exact) assert.equal(rs.filter((r) => r.kind === 'correction').length, w.all.length - w.onTime.length, `${id}: one correction per late accepted event`);
  }
}

export interface Run {
  results: Result[];
  late: LateEvent<Ev>[];
  lateDropped: number;
  latePartial: number;
  driver: TestDriver;
}

/** Runs `events` through windowApp to the end of input. */
export function runWindows(spec: WindowSpec, options: WindowOptions, events: Ev[], delay: number, rnd: Rand, maxChunk: number): Run {
  const d = new TestDriver(windowApp(spec, options, { delay }));
  sendInChunks(d, events, rnd, maxChunk);
  d.endInput();
  return { results: d.output<Result>('out'), late: d.output<LateEvent<Ev>>('late'), lateDropped: d.counters()['win']?.['late-dropped'] ?? 0, latePartial: d.counters()['win']?.['late-partial'] ?? 0, driver: d };
}
