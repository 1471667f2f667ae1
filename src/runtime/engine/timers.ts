// The timers of one stateful operator, per key: event-time timers fire when
// the operator's watermark reaches them, processing-time timers when the wall
// clock does. The per-key sets are the truth (and what checkpoints save); a
// queue per domain orders them for firing, with stale entries skipped when
// popped. Due timers fire in (time, key, partition) order, never insertion
// order, so a job restored from a checkpoint fires them in the same order as
// the run that saved them.

import type { TimeDomain } from '../../dataflow/graph.ts';

interface Entry {
  time: number;
  key: string;
  partition: number;
}

function byKey(a: Entry, b: Entry): number {
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return a.partition - b.partition;
}

/** Entries due at one time, sorted by (key, partition); those before `head` were taken. */
interface Run {
  time: number;
  entries: Entry[];
  head: number;
}

/** How many recently pushed times the queue remembers, to group entries of the same time. */
const RECENT = 4;

/**
 * Timer entries in (time, key, partition) order, for two patterns: joins set
 * one timer per event, nearly all at distinct times; windows set one per key
 * for the same time (a window's end), a few times in turn. A binary heap
 * ordered by time alone (no string comparison), whose nodes are single
 * entries or groups of entries of one time: a time pushed again while it is
 * among the RECENT last ones gets a group, so windows' heap holds a few nodes
 * per time instead of one per key, and a join's timer costs one heap node and
 * nothing else. When a time falls due, all its nodes are taken out together
 * and sorted by (key, partition) once, as a run; a lone entry skips that. A
 * timer set for the time of a run being taken goes into its place in the
 * run; one set for an earlier time (due too) starts a run of its own on top,
 * so `runs` holds the earliest last.
 */
class TimerQueue {
  // The heap, as parallel arrays: times unboxed, so sifting reads no node.
  private readonly times: number[] = [];
  private readonly nodes: (Entry | Entry[])[] = [];
  private readonly runs: Run[] = [];
  // Recently pushed times and their group in the heap (undefined: pushed as a lone entry).
  private readonly recentTimes: number[] = Array.from({ length: RECENT }, () => NaN);
  private readonly recentGroups: (Entry[] | undefined)[] = Array.from({ length: RECENT }, () => undefined);
  private recentNext = 0;

  push(e: Entry): void {
    const t = e.time;
    const runs = this.runs;
    for (let r = runs.length - 1; r >= 0; r--) {
      const run = runs[r]!;
      if (run.time === t) return insert(run, e);
    }
    const recent = this.recentTimes;
    for (let i = 0; i < RECENT; i++) {
      if (recent[i] !== t) continue;
      const group = this.recentGroups[i];
      if (group) group.push(e);
      else this.heapPush(t, (this.recentGroups[i] = [e]));
      return;
    }
    this.heapPush(t, e);
    const i = this.recentNext;
    recent[i] = t;
    this.recentGroups[i] = undefined;
    this.recentNext = i + 1 === RECENT ? 0 : i + 1;
  }

  /** Earliest pending time. */
  peekTime(): number | undefined {
    const h = this.times[0];
    const n = this.runs.length;
    if (n === 0) return h;
    const r = this.runs[n - 1]!.time;
    return h !== undefined && h < r ? h : r;
  }

  /** Removes and returns the earliest entry (call only when peekTime() is defined). */
  pop(): Entry {
    const runs = this.runs;
    let run = runs[runs.length - 1];
    const times = this.times;
    if (times.length > 0 && (run === undefined || times[0]! < run.time)) {
      const t = times[0]!;
      const node = this.heapPop();
      if (!Array.isArray(node) && times[0] !== t) return node; // the only entry of its time
      const entries = Array.isArray(node) ? node : [node];
      while (times[0] === t) {
        const more = this.heapPop();
        if (Array.isArray(more)) for (let i = 0; i < more.length; i++) entries.push(more[i]!);
        else entries.push(more);
      }
      // Its groups left the heap: a later push of t must not go into them.
      for (let i = 0; i < RECENT; i++) {
        if (this.recentTimes[i] !== t) continue;
        this.recentTimes[i] = NaN;
        this.recentGroups[i] = undefined;
      }
      entries.sort(byKey);
      run = { time: t, entries, head: 0 };
      runs.push(run);
    }
    const e = run!.entries[run!.head++]!;
    if (run!.head === run!.entries.length) runs.pop();
    return e;
  }

  private heapPush(t: number, node: Entry | Entry[]): void {
    const times = this.times;
    const nodes = this.nodes;
    let i = times.length;
    times.push(t);
    nodes.push(node);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= t) break;
      times[i] = times[parent]!;
      nodes[i] = nodes[parent]!;
      i = parent;
    }
    times[i] = t;
    nodes[i] = node;
  }

  private heapPop(): Entry | Entry[] {
    const times = this.times;
    const nodes = this.nodes;
    const top = nodes[0]!;
    const t = times.pop()!;
    const last = nodes.pop()!;
    const n = times.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const m = l + 1 < n && times[l + 1]! < times[l]! ? l + 1 : l;
      if (times[m]! >= t) break;
      times[i] = times[m]!;
      nodes[i] = nodes[m]!;
      i = m;
    }
    times[i] = t;
    nodes[i] = last;
    return top;
  }
}

/** Puts `e` into its place among the entries of `run` not yet taken. */
function insert(run: Run, e: Entry): void {
  const entries = run.entries;
  let lo = run.head;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (byKey(entries[mid]!, e) <= 0) lo = mid + 1;
    else hi = mid;
  }
  entries.splice(lo, 0, e);
}

/**
 * One key's pending times in one domain, in the order they were set (the
 * order checkpoints save). A number while there is one: a join sets one timer
 * per event, mostly on keys that have no other. An array while there are
 * few: windows keep a handful per key and add and remove them all the time,
 * which costs a Set a rehash every few operations. A Set beyond SMALL_TIMES,
 * so a key with thousands of timers stays O(1) per timer.
 */
type Times = number | number[] | Set<number>;
const SMALL_TIMES = 32;

/** Removes `time` from `key`'s times, and the key once it has none left; false when it was not there. */
function removeTime(keys: Map<string, Times>, key: string, time: number): boolean {
  const times = keys.get(key);
  if (times === undefined) return false;
  if (typeof times === 'number') {
    if (times !== time) return false;
    keys.delete(key);
    return true;
  }
  if (Array.isArray(times)) {
    const i = times.indexOf(time);
    if (i < 0) return false;
    if (times.length === 1) keys.delete(key);
    else {
      // In place and in order (splice would allocate the removed part): the order is what checkpoints save.
      for (let j = i + 1; j < times.length; j++) times[j - 1] = times[j]!;
      times.pop();
    }
    return true;
  }
  if (!times.delete(time)) return false;
  if (times.size === 0) keys.delete(key);
  return true;
}

const timesList = (t: Times | undefined): number[] => (t === undefined ? [] : typeof t === 'number' ? [t] : [...t]);

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
    if (times === undefined) keys.set(key, time);
    else if (typeof times === 'number') {
      if (times === time) return;
      keys.set(key, [times, time]);
    } else if (Array.isArray(times)) {
      if (times.includes(time)) return;
      times.push(time);
      if (times.length > SMALL_TIMES) keys.set(key, new Set(times));
    } else if (times.has(time)) return;
    else times.add(time);
    this.queues[domain].push({ time, key, partition });
    this.dirty[partition]!.add(key);
  }

  delete(domain: TimeDomain, partition: number, key: string, time: number): void {
    if (removeTime(this.byKey[domain][partition]!, key, time)) this.dirty[partition]!.add(key);
  }

  /** The earliest timer of `domain` due at `now`, removed; undefined when none is due. */
  popDue(domain: TimeDomain, now: number): DueTimer | undefined {
    const queue = this.queues[domain];
    for (;;) {
      const time = queue.peekTime();
      if (time === undefined || time > now) return undefined;
      const top = queue.pop();
      if (!removeTime(this.byKey[domain][top.partition]!, top.key, top.time)) continue; // deleted, or a duplicate entry after restore
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
    return e !== undefined || pt !== undefined ? JSON.stringify({ e: timesList(e), p: timesList(pt) }) : '';
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
