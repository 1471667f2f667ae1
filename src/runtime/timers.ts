// The timers of one stateful operator, per key: event-time timers fire when
// the operator's watermark reaches them, processing-time timers when the wall
// clock does. The per-key sets are the truth (and what checkpoints save); a
// heap per domain orders them for firing, with stale entries skipped when
// popped. Due timers fire in (time, key, partition) order, never insertion
// order, so a job restored from a checkpoint fires them in the same order as
// the run that saved them.

import type { TimeDomain } from '../dataflow/graph.ts';

interface Entry {
  time: number;
  key: string;
  partition: number;
}

interface KeyTimers {
  event: Set<number>;
  processing: Set<number>;
}

function before(a: Entry, b: Entry): boolean {
  if (a.time !== b.time) return a.time < b.time;
  if (a.key !== b.key) return a.key < b.key;
  return a.partition < b.partition;
}

/** A binary min-heap of timer entries. */
class Heap {
  private readonly items: Entry[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Entry | undefined {
    return this.items[0];
  }

  push(e: Entry): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): Entry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

export interface DueTimer {
  partition: number;
  key: string;
  time: number;
}

export class Timers {
  private readonly byKey: Map<string, KeyTimers>[];
  private readonly dirty: Set<string>[];
  private readonly heaps: Record<TimeDomain, Heap> = { event: new Heap(), processing: new Heap() };

  constructor(partitions: number) {
    this.byKey = Array.from({ length: partitions }, () => new Map());
    this.dirty = Array.from({ length: partitions }, () => new Set());
  }

  set(domain: TimeDomain, partition: number, key: string, time: number): void {
    if (!Number.isFinite(time)) throw new RangeError(`a timer needs a finite time, got ${time}`);
    let t = this.byKey[partition]!.get(key);
    if (!t) this.byKey[partition]!.set(key, (t = { event: new Set(), processing: new Set() }));
    if (t[domain].has(time)) return;
    t[domain].add(time);
    this.heaps[domain].push({ time, key, partition });
    this.dirty[partition]!.add(key);
  }

  delete(domain: TimeDomain, partition: number, key: string, time: number): void {
    const t = this.byKey[partition]!.get(key);
    if (!t?.[domain].delete(time)) return;
    if (t.event.size === 0 && t.processing.size === 0) this.byKey[partition]!.delete(key);
    this.dirty[partition]!.add(key);
  }

  /** The earliest timer of `domain` due at `now`, removed; undefined when none is due. */
  popDue(domain: TimeDomain, now: number): DueTimer | undefined {
    const heap = this.heaps[domain];
    for (;;) {
      const top = heap.peek();
      if (!top || top.time > now) return undefined;
      heap.pop();
      const t = this.byKey[top.partition]!.get(top.key);
      if (!t?.[domain].has(top.time)) continue; // deleted, or a duplicate entry after restore
      this.delete(domain, top.partition, top.key, top.time);
      return top;
    }
  }

  /** Earliest pending time in `domain` (may be a deleted timer's: only a hint for when to look again). */
  next(domain: TimeDomain): number | undefined {
    return this.heaps[domain].peek()?.time;
  }

  /** Timers of the keys changed since the last call, as JSON ('' when a key has none left). */
  takeChanges(): { partition: number; key: string; json: string }[] {
    const out: { partition: number; key: string; json: string }[] = [];
    for (let p = 0; p < this.dirty.length; p++) {
      for (const key of this.dirty[p]!) {
        const t = this.byKey[p]!.get(key);
        out.push({ partition: p, key, json: t ? JSON.stringify({ e: [...t.event], p: [...t.processing] }) : '' });
      }
      this.dirty[p]!.clear();
    }
    return out;
  }

  restore(partition: number, key: string, json: string): void {
    if (partition < 0 || partition >= this.byKey.length) throw new RangeError(`saved timers are in partition ${partition} of ${this.byKey.length}`);
    const saved = JSON.parse(json) as { e?: number[]; p?: number[] };
    for (const time of saved.e ?? []) this.set('event', partition, key, time);
    for (const time of saved.p ?? []) this.set('processing', partition, key, time);
    this.dirty[partition]!.delete(key);
  }

  /** Number of keys with timers: for tests that state stays bounded. */
  get keys(): number {
    return this.byKey.reduce((n, m) => n + m.size, 0);
  }
}
