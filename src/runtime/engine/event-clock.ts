// The job's event-time watermark. Each source partition ("origin": a topic
// partition, a connection, a file) has its own: the largest event time seen
// there minus the source's bounded out-of-orderness. The job's watermark is
// the minimum over every origin that is neither idle (no data for the
// source's idle timeout, by the wall clock) nor ended, and it never goes back.
//
// The watermark is stamped on each event as it enters (the value *before*
// the event), so where a batch boundary falls does not change which events a
// window counts or calls late: a job replayed from a checkpoint decides the
// same. Idleness follows the wall clock and cannot be replayed; it only ever
// lets the watermark advance where it would otherwise wait.

import type { Event, SourceNode } from '../../dataflow/graph.ts';

interface Origin {
  maxTs: number;
  /** Wall-clock ms of the last data (or of the job's start). */
  lastSeen: number;
  idle: boolean;
}

interface SourceClock {
  node: SourceNode;
  origins: Map<string, Origin>;
  ended: boolean;
}

/** Placeholder origin of a source that has not delivered yet: holds the watermark back until idle. */
const PENDING = '*';

export interface OriginTime {
  source: string;
  origin: string;
  /** Largest event time seen. */
  maxTimestamp: number | null;
  watermark: number | null;
  idle: boolean;
}

/** What a checkpoint saves (JSON: -Infinity and Infinity become null and 'end'). */
export interface SavedTime {
  watermark: number | null | 'end';
  /** Per source: its bounded out-of-orderness and each origin's largest event time. */
  sources: Record<string, { maxOutOfOrderMs: number; origins: Record<string, number> }>;
}

export class EventClock {
  private readonly sources = new Map<SourceNode, SourceClock>();
  /** The job's watermark: monotone. */
  watermark = -Infinity;

  constructor(nodes: SourceNode[], now: number) {
    for (const node of nodes) {
      this.sources.set(node, { node, origins: new Map([[PENDING, { maxTs: -Infinity, lastSeen: now, idle: false }]]), ended: false });
    }
  }

  /** Origins a source will deliver from (a topic's partitions): each holds the watermark until it has data or goes idle. */
  declareOrigins(node: SourceNode, origins: string[], now: number): void {
    const s = this.sources.get(node)!;
    if (origins.length > 0) s.origins.delete(PENDING);
    for (const o of origins) if (!s.origins.has(o)) s.origins.set(o, { maxTs: -Infinity, lastSeen: now, idle: false });
  }

  /**
   * Stamps each event of a batch from `origin` with the watermark before it,
   * and advances the watermark past it. Returns whether the watermark moved.
   */
  stamp(node: SourceNode, originName: string, events: Event[], now: number): boolean {
    const s = this.sources.get(node)!;
    s.origins.delete(PENDING);
    let o = s.origins.get(originName);
    if (!o) s.origins.set(originName, (o = { maxTs: -Infinity, lastSeen: now, idle: false }));
    o.lastSeen = now;
    o.idle = false;
    const delay = node.watermark.maxOutOfOrderMs;
    const others = this.minExcept(o);
    const start = this.watermark;
    let w = start;
    let maxTs = o.maxTs;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      e.watermark = w;
      if (e.timestamp > maxTs) {
        maxTs = e.timestamp;
        const candidate = Math.min(maxTs - delay, others);
        if (candidate > w) w = candidate;
      }
    }
    o.maxTs = maxTs;
    this.watermark = w;
    return w > start;
  }

  /**
   * Marks origins idle by the wall clock; returns whether the watermark moved.
   * A source that can tell (Source.caughtUp) keeps an origin with data
   * waiting from going idle: quiet means nothing to read, not nothing read
   * lately — a job stalled by a checkpoint or a busy CPU has not seen time stop.
   */
  tick(now: number): boolean {
    let changed = false;
    for (const s of this.sources.values()) {
      const timeout = s.node.watermark.idleTimeoutMs;
      const caughtUp = s.node.source.caughtUp?.bind(s.node.source);
      for (const [name, o] of s.origins) {
        if (!o.idle && now - o.lastSeen >= timeout && (name === PENDING || !caughtUp || caughtUp(name))) {
          o.idle = true;
          changed = true;
        }
      }
    }
    return changed && this.recompute();
  }

  /** A source ended (bounded input): it no longer holds the watermark back. */
  end(node: SourceNode): boolean {
    this.sources.get(node)!.ended = true;
    if ([...this.sources.values()].every((s) => s.ended)) {
      const moved = this.watermark !== Infinity;
      this.watermark = Infinity;
      return moved;
    }
    return this.recompute();
  }

  /** Min watermark over active origins other than `skip`; Infinity when there are none. */
  private minExcept(skip: Origin | null): number {
    let min = Infinity;
    for (const s of this.sources.values()) {
      if (s.ended) continue;
      const delay = s.node.watermark.maxOutOfOrderMs;
      for (const o of s.origins.values()) {
        if (o === skip || o.idle) continue;
        const w = o.maxTs - delay;
        if (w < min) min = w;
      }
    }
    return min;
  }

  private recompute(): boolean {
    const min = this.minExcept(null);
    // Every origin idle: hold (an all-quiet job has no evidence that time moved on).
    if (min === Infinity || min <= this.watermark) return false;
    this.watermark = min;
    return true;
  }

  /** Per origin, for `sluice time` and tests. */
  origins(): OriginTime[] {
    const out: OriginTime[] = [];
    for (const s of this.sources.values()) {
      for (const [name, o] of s.origins) {
        if (name === PENDING) continue;
        const finite = (x: number) => (Number.isFinite(x) ? x : null);
        out.push({ source: s.node.name, origin: name, maxTimestamp: finite(o.maxTs), watermark: finite(o.maxTs - s.node.watermark.maxOutOfOrderMs), idle: o.idle || s.ended });
      }
    }
    return out;
  }

  snapshot(): SavedTime {
    const sources: SavedTime['sources'] = {};
    for (const s of this.sources.values()) {
      const origins: Record<string, number> = {};
      for (const [name, o] of s.origins) if (name !== PENDING && Number.isFinite(o.maxTs)) origins[name] = o.maxTs;
      sources[s.node.name] = { maxOutOfOrderMs: s.node.watermark.maxOutOfOrderMs, origins };
    }
    const w = this.watermark;
    return { watermark: w === Infinity ? 'end' : Number.isFinite(w) ? w : null, sources };
  }

  restore(saved: SavedTime, now: number): void {
    this.watermark = saved.watermark === 'end' ? Infinity : (saved.watermark ?? -Infinity);
    for (const s of this.sources.values()) {
      const origins = saved.sources[s.node.name]?.origins;
      if (!origins) continue;
      for (const [name, maxTs] of Object.entries(origins)) {
        s.origins.delete(PENDING);
        const o = s.origins.get(name);
        if (o) o.maxTs = Math.max(o.maxTs, maxTs);
        else s.origins.set(name, { maxTs, lastSeen: now, idle: false });
      }
    }
  }
}
