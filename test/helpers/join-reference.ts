// Brute-force references for the table and join property tests: given every
// input in the order the driver sends it, compute what tables and joins must
// end up with. Deliberately naive (maps rebuilt from scratch, every pair of
// events tried) and sharing no code with src/, so a bug in an operator is not
// also in its oracle. Also here: the multi-input watermark, an interleaving
// generator and the driver plumbing the tests share.

import type { TestDriver, TestInput } from '../../src/runtime/testing/test-driver.ts';
import { int, type Rand } from './window-reference.ts';

export { int, mulberry32, type Rand } from './window-reference.ts';

/** Something sent to one of the driver's inputs. */
export interface Arrival {
  input: string;
  partition: number;
  /** Event time (also the record timestamp). */
  ts: number;
}

/**
 * The job's watermark before each arrival: per origin (input and partition)
 * its largest event time minus `delay`; the minimum over the origins seen so
 * far — -Infinity until every input has delivered once — and never back.
 */
export function watermarksBefore(arrivals: Arrival[], inputs: string[], delay: number): number[] {
  const maxTs = new Map<string, number>();
  const delivered = new Set<string>();
  let w = -Infinity;
  return arrivals.map((a) => {
    const before = w;
    const origin = `${a.input}/${a.partition}`;
    maxTs.set(origin, Math.max(maxTs.get(origin) ?? -Infinity, a.ts));
    delivered.add(a.input);
    if (inputs.every((i) => delivered.has(i))) {
      let min = Infinity;
      for (const m of maxTs.values()) min = Math.min(min, m - delay);
      w = Math.max(w, min);
    }
    return before;
  });
}

/**
 * Sends arrivals in order: each run of consecutive arrivals for the same
 * input in random chunks of 1..maxChunk records (one send() per chunk).
 */
export function sendInOrder<A extends Arrival>(d: TestDriver, arrivals: A[], toRecord: (a: A) => TestInput & { value: unknown }, rnd: Rand, maxChunk: number): number {
  let sends = 0;
  for (let i = 0; i < arrivals.length; ) {
    const input = arrivals[i]!.input;
    let j = i + 1;
    const limit = i + int(rnd, 1, maxChunk);
    while (j < arrivals.length && j < limit && arrivals[j]!.input === input) j++;
    d.sendRecords(input, arrivals.slice(i, j).map(toRecord));
    sends++;
    i = j;
  }
  return sends;
}

// ---- Tables ------------------------------------------------------------------

export interface RefChange<V> {
  key: string;
  value: V | null;
  old: V | null;
}

/** Last write wins per key, null deletes; and the changes a table must emit (none for deleting an absent key). */
export function referenceTable<V>(upserts: { key: string; value: V | null }[]): { rows: Map<string, V>; changes: RefChange<V>[] } {
  const rows = new Map<string, V>();
  const changes: RefChange<V>[] = [];
  for (const u of upserts) {
    const old = rows.has(u.key) ? rows.get(u.key)! : null;
    if (u.value === null) {
      if (old === null) continue;
      rows.delete(u.key);
    } else rows.set(u.key, u.value);
    changes.push({ key: u.key, value: u.value, old });
  }
  return { rows, changes };
}

/** A consumer's view of a change stream: the rows it leaves. Checks each change's `old` on the way. */
export function foldChanges<V>(changes: RefChange<V>[], into = new Map<string, V>()): Map<string, V> {
  for (const c of changes) {
    const had = into.has(c.key) ? into.get(c.key)! : null;
    if (JSON.stringify(had) !== JSON.stringify(c.old)) throw new Error(`change of ${c.key}: old ${JSON.stringify(c.old)}, but the row was ${JSON.stringify(had)}`);
    if (c.value === null) into.delete(c.key);
    else into.set(c.key, c.value);
  }
  return into;
}

/** The inner or left join of two tables' current rows. */
export function joinTables<A, B, R>(a: Map<string, A>, b: Map<string, B>, left: boolean, fn: (a: A, b: B | null, key: string) => R): Map<string, R> {
  const out = new Map<string, R>();
  for (const [k, av] of a) {
    const bv = b.has(k) ? b.get(k)! : null;
    if (bv !== null || left) out.set(k, fn(av, bv, k));
  }
  return out;
}

// ---- Stream-table ------------------------------------------------------------

/** A table update (row null: delete) or an event to enrich, in the order the driver sends them. */
export type StInput = { kind: 'row'; key: string; row: { ver: number } | null; ts: number } | { kind: 'event'; id: number; key: string; ts: number };

export interface StRef {
  /** Event id → the row version it was joined with (null: emitted without a row). */
  out: Map<number, number | null>;
  unmatched: number;
  /** Events that had to wait for their row and got it. */
  waitedAndMatched: number;
}

/**
 * Replays the interleaving: an event takes its key's row as it is when the
 * event comes; without one it waits (waitMs > 0, while ts + waitMs is above
 * the watermark) for the row's next upsert, or until the watermark reaches
 * ts + waitMs — then a left join emits it with null, an inner one drops it.
 */
export function referenceStreamTable(inputs: StInput[], wms: number[], o: { left: boolean; waitMs: number }): StRef {
  const table = new Map<string, number>();
  let waiting: { id: number; key: string; ts: number }[] = [];
  const ref: StRef = { out: new Map(), unmatched: 0, waitedAndMatched: 0 };
  const noRow = (id: number) => (o.left ? ref.out.set(id, null) : ref.unmatched++);
  const expire = (w: number) => {
    for (const e of waiting) if (e.ts + o.waitMs <= w) noRow(e.id);
    waiting = waiting.filter((e) => e.ts + o.waitMs > w);
  };
  inputs.forEach((x, i) => {
    const w = wms[i]!;
    expire(w);
    if (x.kind === 'row') {
      if (x.row === null) {
        table.delete(x.key);
        return;
      }
      table.set(x.key, x.row.ver);
      for (const e of waiting.filter((e) => e.key === x.key)) {
        ref.out.set(e.id, x.row.ver);
        ref.waitedAndMatched++;
      }
      waiting = waiting.filter((e) => e.key !== x.key);
      return;
    }
    const row = table.get(x.key);
    if (row !== undefined) ref.out.set(x.id, row);
    else if (o.waitMs > 0 && x.ts + o.waitMs > w) waiting.push(x);
    else noRow(x.id);
  });
  expire(Infinity);
  return ref;
}

// ---- Stream-stream -----------------------------------------------------------

export interface SideEvent {
  id: number;
  side: 'L' | 'R';
  k: string;
  ts: number;
}

export interface IntervalRef {
  /** Matching pairs [left id, right id], sorted. */
  pairs: [number, number][];
  /** Left events without a partner (left join: each comes out once with null). */
  alone: number[];
  late: { id: number; watermark: number }[];
}

/**
 * Every pair of same-key events, one per side, with the right one's time in
 * [left - before, left + after], among the events that were not late. An
 * event is late when it comes with the watermark past its time plus the
 * allowed lateness: partners it could match may already have been let go.
 */
export function referenceIntervalJoin(events: SideEvent[], wms: number[], o: { before: number; after: number; lateness: number }): IntervalRef {
  const onTime: SideEvent[] = [];
  const late: IntervalRef['late'] = [];
  events.forEach((e, i) => {
    if (e.ts + o.lateness < wms[i]!) late.push({ id: e.id, watermark: wms[i]! });
    else onTime.push(e);
  });
  const pairs: [number, number][] = [];
  const matched = new Set<number>();
  for (const l of onTime) {
    if (l.side !== 'L') continue;
    for (const r of onTime) {
      if (r.side === 'R' && r.k === l.k && r.ts >= l.ts - o.before && r.ts <= l.ts + o.after) {
        pairs.push([l.id, r.id]);
        matched.add(l.id);
      }
    }
  }
  pairs.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const alone = onTime.filter((e) => e.side === 'L' && !matched.has(e.id)).map((e) => e.id);
  return { pairs, alone: alone.sort((x, y) => x - y), late };
}

export interface SideGen {
  n: number;
  keys: number;
  /** Event time advances by [0, step] per event. */
  step: number;
  /** How far an event's time may lag the front (beyond the watermark's delay, it may be late). */
  disorder: number;
  /** Share of left events. */
  leftShare?: number;
}

/** Events of both sides in arrival order, times trailing an advancing front. */
export function generateSides(rnd: Rand, o: SideGen): SideEvent[] {
  const out: SideEvent[] = [];
  let front = 1_000_000;
  for (let id = 0; id < o.n; id++) {
    front += int(rnd, 0, o.step);
    const ts = rnd() < 0.6 ? front : front - int(rnd, 0, o.disorder);
    out.push({ id, side: rnd() < (o.leftShare ?? 0.5) ? 'L' : 'R', k: `k${int(rnd, 0, o.keys - 1)}`, ts });
  }
  return out;
}
