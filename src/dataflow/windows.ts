// Window definitions, aggregators and what a windowed aggregation emits.
// The operator that runs them is window-operator.ts.

import { ErrorCodes, SluiceError } from '../errors.ts';

/** A window [start, end): it holds events with start <= timestamp < end. */
export interface WindowBounds {
  start: number;
  end: number;
}

export type WindowSpec =
  | { type: 'tumbling'; size: number; offset: number }
  | { type: 'hopping'; size: number; hop: number; offset: number }
  | { type: 'calendar'; unit: 'month' | 'year' }
  | { type: 'sliding'; size: number }
  | { type: 'session'; gap: number };

function positive(what: string, ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `${what} must be a positive number of ms, got ${ms}`);
  return ms;
}

/** Fixed, non-overlapping windows of `sizeMs`, aligned to the epoch (plus `offsetMs`). */
export function tumbling(sizeMs: number, options: { offsetMs?: number } = {}): WindowSpec {
  return { type: 'tumbling', size: positive('tumbling: size', sizeMs), offset: options.offsetMs ?? 0 };
}

/** Windows of `sizeMs` starting every `hopMs`: an event belongs to size/hop of them. */
export function hopping(sizeMs: number, hopMs: number, options: { offsetMs?: number } = {}): WindowSpec {
  positive('hopping: size', sizeMs);
  positive('hopping: hop', hopMs);
  if (hopMs > sizeMs) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `hopping: the hop (${hopMs} ms) must not exceed the size (${sizeMs} ms); events between windows would belong to none`);
  return { type: 'hopping', size: sizeMs, hop: hopMs, offset: options.offsetMs ?? 0 };
}

/** Calendar months (or years) in UTC: tumbling windows of uneven length, for billing periods. */
export function calendar(unit: 'month' | 'year'): WindowSpec {
  return { type: 'calendar', unit };
}

/**
 * DDIA's sliding window: the events within `sizeMs` of each other. One window
 * ends at each event — [t - size + 1, t + 1), "the last `sizeMs` as of this
 * event" — and holds every event of the key in that span.
 */
export function sliding(sizeMs: number): WindowSpec {
  return { type: 'sliding', size: positive('sliding: size', sizeMs) };
}

/** Per key, a session of activity that closes after `gapMs` without events; a late event that bridges two sessions merges them. */
export function session(gapMs: number): WindowSpec {
  return { type: 'session', gap: positive('session: gap', gapMs) };
}

/** The fixed windows (tumbling, hopping, calendar) that hold `t`, earliest first. */
export function assignFixed(spec: WindowSpec, t: number): WindowBounds[] {
  switch (spec.type) {
    case 'tumbling': {
      const start = Math.floor((t - spec.offset) / spec.size) * spec.size + spec.offset;
      return [{ start, end: start + spec.size }];
    }
    case 'hopping': {
      const out: WindowBounds[] = [];
      let start = Math.floor((t - spec.offset) / spec.hop) * spec.hop + spec.offset;
      for (; start > t - spec.size; start -= spec.hop) out.push({ start, end: start + spec.size });
      return out.reverse();
    }
    case 'calendar': {
      const d = new Date(t);
      const y = d.getUTCFullYear();
      if (spec.unit === 'year') return [{ start: Date.UTC(y, 0, 1), end: Date.UTC(y + 1, 0, 1) }];
      const m = d.getUTCMonth();
      return [{ start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) }];
    }
    default:
      throw new SluiceError(ErrorCodes.INTERNAL, `internal: ${spec.type} windows are not fixed`);
  }
}

/**
 * How to aggregate a window's events. The accumulator is saved in checkpoints,
 * so it must be JSON-compatible. `merge` is needed by session windows (merging
 * sessions merges their accumulators).
 */
export interface Aggregator<T, A, R = A> {
  init(): A;
  add(acc: A, value: T): A;
  merge?(a: A, b: A): A;
  result?(acc: A): R;
}

export const aggregators = {
  count<T>(): Aggregator<T, number> {
    return { init: () => 0, add: (a) => a + 1, merge: (a, b) => a + b };
  },
  sum<T>(fn: (v: T) => number): Aggregator<T, number> {
    return { init: () => 0, add: (a, v) => a + fn(v), merge: (a, b) => a + b };
  },
  min<T>(fn: (v: T) => number): Aggregator<T, number | null> {
    return { init: () => null, add: (a, v) => (a === null ? fn(v) : Math.min(a, fn(v))), merge: (a, b) => (a === null ? b : b === null ? a : Math.min(a, b)) };
  },
  max<T>(fn: (v: T) => number): Aggregator<T, number | null> {
    return { init: () => null, add: (a, v) => (a === null ? fn(v) : Math.max(a, fn(v))), merge: (a, b) => (a === null ? b : b === null ? a : Math.max(a, b)) };
  },
  avg<T>(fn: (v: T) => number): Aggregator<T, { n: number; sum: number }, number | null> {
    return {
      init: () => ({ n: 0, sum: 0 }),
      add: (a, v) => ({ n: a.n + 1, sum: a.sum + fn(v) }),
      merge: (a, b) => ({ n: a.n + b.n, sum: a.sum + b.sum }),
      result: (a) => (a.n === 0 ? null : a.sum / a.n),
    };
  },
  /** `fn` should be associative (sessions merge with it). */
  reduce<T>(fn: (a: T, b: T) => T): Aggregator<T, { v: T } | null, T | null> {
    return {
      init: () => null,
      add: (a, v) => ({ v: a === null ? v : fn(a.v, v) }),
      merge: (a, b) => (a === null ? b : b === null ? a : { v: fn(a.v, b.v) }),
      result: (a) => (a === null ? null : a.v),
    };
  },
};

/**
 * What to do with an event that arrives after its window closed (the
 * watermark passed the window's end plus the allowed lateness):
 * - drop: count it (the operator's `late-dropped` counter; `sluice time`);
 * - side-output: emit a LateEvent to the side output `lateOutput`;
 * - correct: update the window and emit its result again as a correction
 *   with the next revision (within `retainMs` after the window closed;
 *   later than that it is dropped and counted as `late-dropped`).
 */
export type LatePolicy = 'drop' | 'side-output' | 'correct';

export interface WindowOptions {
  /** Names the operator (its state, its counters). */
  name?: string;
  /** 'event' (default): the events' timestamps and the watermark; 'processing': the wall clock. */
  time?: 'event' | 'processing';
  /** How long after the watermark passes a window's end it still takes events. Default 0. */
  allowedLatenessMs?: number;
  late?: LatePolicy;
  /** Side output for late events under `late: 'side-output'`. Default 'late'. */
  lateOutput?: string;
  /** Under `late: 'correct'`, how long a closed window is kept to be corrected. Default: the window's size (for sessions, the gap). */
  retainMs?: number;
  emit?: {
    /** Early results before the window closes: on every change, or at most every N ms of wall clock. Default none. */
    early?: 'every-event' | { everyMs: number };
    /** The final result when the window closes. Default true. */
    final?: boolean;
  };
}

/** What a windowed aggregation emits, keyed by the stream's key. */
export interface WindowResult<R> {
  key: string;
  start: number;
  end: number;
  value: R;
  /** early: the window is still open; final: it closed; correction: a late event changed it after it closed. */
  kind: 'early' | 'final' | 'correction';
  /** 1 for the window's first result, then +1 for each: a newer revision replaces an older one. */
  revision: number;
  /** Session windows only: earlier sessions this one absorbed (their results are void). */
  replaces?: WindowBounds[];
}

/** A late event, as `late: 'side-output'` emits it. */
export interface LateEvent<T> {
  value: T;
  key: string;
  timestamp: number;
  watermark: number;
  /** The closed windows it belonged to. */
  windows: WindowBounds[];
  reason: string;
}
