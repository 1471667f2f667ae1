// The timers of one stateful operator, per key: event-time timers fire when
// the operator's watermark reaches them, processing-time timers when the wall
// clock does. The per-key sets are the truth (and what checkpoints save); a
// queue per domain orders them for firing, with stale entries skipped when
// popped. Due timers fire in (time, key, partition) order, never insertion
// order, so a job restored from a checkpoint fires them in the same order as
// the run that saved them.

import type { TimeDomain } from '../dataflow/graph.ts';

interface Entry {
  time: number;
  key: string;
  partition: number;
}

function byKey(a: Entry, b: Entry): number {
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return a.partition - b.partition;
}

/** A binary min-heap of numbers. */
class NumberHeap {
  private readonly items: number[] = [];

  peek(): number | undefined {
    return this.items[0];
  }

  push(x: number): void {
    const a = this.items;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= x) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = x;
  }

  pop(): void {
    const a = this.items;
    const last = a.pop()!;
    const n = a.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const m = l + 1 < n && a[l + 1]! < a[l]! ? l + 1 : l;
      if (a[m]! >= last) break;
      a[i] = a[m]!;
      i = m;
    }
    a[i] = last;
  }
}

/** The entries due at one time; sorted by (key, partition) once the first of them is taken. */
interface Bucket {
  entries: Entry[];
  sorted: boolean;
  /** Entries before it were taken. */
  head: number;
}

/**
 * Timer entries in (time, key, partition) order. Windows set one timer per key
 * for the same time (a window's end), so entries are grouped by time: a heap
 * of distinct times, and per time a bucket sorted only when it falls due —
 * one sort per bucket instead of a heap operation, comparing keys, per entry.
 */
class TimerQueue {
  private readonly times = new NumberHeap();
  private readonly buckets = new Map<number, Bucket>();

  push(e: Entry): void {
    const b = this.buckets.get(e.time);
    if (!b) {
      this.buckets.set(e.time, { entries: [e], sorted: false, head: 0 });
      this.times.push(e.time);
    } else if (!b.sorted) b.entries.push(e);
    else {
      // Set while its time is being fired: into its place among the entries not yet taken.
      let lo = b.head;
      let hi = b.entries.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (byKey(b.entries[mid]!, e) <= 0) lo = mid + 1;
        else hi = mid;
      }
      b.entries.splice(lo, 0, e);
    }
  }

  /** Earliest pending time. */
  peekTime(): number | undefined {
    return this.times.peek();
  }

  /** Removes and returns the earliest entry (call only when peekTime() is defined). */
  pop(): Entry {
    const time = this.times.peek()!;
    const b = this.buckets.get(time)!;
    if (!b.sorted) {
      b.entries.sort(byKey);
      b.sorted = true;
    }
    const e = b.entries[b.head++]!;
    if (b.head === b.entries.length) {
      this.buckets.delete(time);
      this.times.pop();
    }
    return e;
  }
}

/**
 * One key's pending times in one domain, in the order they were set (the
 * order checkpoints save). An array while there are few: windows keep a
 * handful per key and add and remove them all the time, which costs a Set a
 * rehash every few operations. A Set beyond SMALL_TIMES, so a key with
 * thousands of timers stays O(1) per timer.
 */
type Times = number[] | Set<number>;
const SMALL_TIMES = 32;

function hasTime(t: Times, time: number): boolean {
  return Array.isArray(t) ? t.includes(time) : t.has(time);
}

/** Adds a time that `t` does not hold; returns what holds them now (a Set once past SMALL_TIMES). */
function addTime(t: Times, time: number): Times {
  if (!Array.isArray(t)) return t.add(time);
  t.push(time);
  return t.length > SMALL_TIMES ? new Set(t) : t;
}

function deleteTime(t: Times, time: number): boolean {
  if (!Array.isArray(t)) return t.delete(time);
  const i = t.indexOf(time);
  if (i < 0) return false;
  t.splice(i, 1);
  return true;
}

const isEmpty = (t: Times): boolean => (Array.isArray(t) ? t.length === 0 : t.size === 0);

export interface DueTimer {
  partition: number;
  key: string;
  time: number;
}

export class Timers {
  /** Per domain and partition, each key's pending times (a key without timers of a domain has no entry there). */
  private readonly byKey: Record<TimeDomain, Map<string, Times>[]>;
  private readonly dirty: Set<string>[];
  private readonly queues: Record<TimeDomain, TimerQueue> = { event: new TimerQueue(), processing: new TimerQueue() };

  constructor(partitions: number) {
    const maps = () => Array.from({ length: partitions }, () => new Map<string, Times>());
    this.byKey = { event: maps(), processing: maps() };
    this.dirty = Array.from({ length: partitions }, () => new Set());
  }

  set(domain: TimeDomain, partition: number, key: string, time: number): void {
    if (!Number.isFinite(time)) throw new RangeError(`a timer needs a finite time, got ${time}`);
    const keys = this.byKey[domain][partition]!;
    const times = keys.get(key);
    if (!times) keys.set(key, [time]);
    else if (hasTime(times, time)) return;
    else {
      const now = addTime(times, time);
      if (now !== times) keys.set(key, now);
    }
    this.queues[domain].push({ time, key, partition });
    this.dirty[partition]!.add(key);
  }

  delete(domain: TimeDomain, partition: number, key: string, time: number): void {
    const keys = this.byKey[domain][partition]!;
    const times = keys.get(key);
    if (!times || !deleteTime(times, time)) return;
    if (isEmpty(times)) keys.delete(key);
    this.dirty[partition]!.add(key);
  }

  /** The earliest timer of `domain` due at `now`, removed; undefined when none is due. */
  popDue(domain: TimeDomain, now: number): DueTimer | undefined {
    const queue = this.queues[domain];
    for (;;) {
      const time = queue.peekTime();
      if (time === undefined || time > now) return undefined;
      const top = queue.pop();
      const keys = this.byKey[domain][top.partition]!;
      const times = keys.get(top.key);
      if (!times || !deleteTime(times, top.time)) continue; // deleted, or a duplicate entry after restore
      if (isEmpty(times)) keys.delete(top.key);
      this.dirty[top.partition]!.add(top.key);
      return top;
    }
  }

  /** Earliest pending time in `domain` (may be a deleted timer's: only a hint for when to look again). */
  next(domain: TimeDomain): number | undefined {
    return this.queues[domain].peekTime();
  }

  /** Timers of the keys changed since the last call, as JSON ('' when a key has none left). */
  takeChanges(): { partition: number; key: string; json: string }[] {
    const out: { partition: number; key: string; json: string }[] = [];
    for (let p = 0; p < this.dirty.length; p++) {
      for (const key of this.dirty[p]!) out.push({ partition: p, key, json: this.keyJson(p, key) });
      this.dirty[p]!.clear();
    }
    return out;
  }

  /** Keys whose timers changed since the last takeChanges(), per partition (read-only). */
  changed(partition: number): ReadonlySet<string> {
    return this.dirty[partition]!;
  }

  /** One key's pending timers as JSON, in takeChanges()' format ('' when it has none). */
  keyJson(partition: number, key: string): string {
    const e = this.byKey.event[partition]!.get(key);
    const pt = this.byKey.processing[partition]!.get(key);
    return e || pt ? JSON.stringify({ e: e ? [...e] : [], p: pt ? [...pt] : [] }) : '';
  }

  restore(partition: number, key: string, json: string): void {
    if (partition < 0 || partition >= this.dirty.length) throw new RangeError(`saved timers are in partition ${partition} of ${this.dirty.length}`);
    const saved = JSON.parse(json) as { e?: number[]; p?: number[] };
    for (const time of saved.e ?? []) this.set('event', partition, key, time);
    for (const time of saved.p ?? []) this.set('processing', partition, key, time);
    this.dirty[partition]!.delete(key);
  }

  /** Number of keys with timers: for tests that state stays bounded. */
  get keys(): number {
    let n = 0;
    for (let p = 0; p < this.dirty.length; p++) {
      n += this.byKey.event[p]!.size;
      for (const key of this.byKey.processing[p]!.keys()) if (!this.byKey.event[p]!.has(key)) n++;
    }
    return n;
  }
}
