// A windowed aggregation as a keyed process function with timers. Per key, the
// state holds the open windows (and, for sliding windows, the recent events);
// a timer at each window's end plus the allowed lateness closes it: the final
// result is emitted and the window purged, or — under the `correct` late
// policy — kept for `retainMs` more to absorb late events as corrections.
// When a key has no window left its state is deleted, so state follows the
// open windows, not the stream's history.

import type { ProcessContext } from './context.ts';
import type { Timer } from './graph.ts';
import { assignFixed, type Aggregator, type LateEvent, type WindowBounds, type WindowOptions, type WindowResult, type WindowSpec } from './windows.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';

/** One window of a key, as saved in the key's state. */
interface Win {
  s: number;
  e: number;
  a: unknown;
  /** Results emitted so far (the last revision). */
  r: number;
  /** Closed: the watermark passed end + lateness. */
  f?: 1;
  /** Changed since its last early result (early results every N ms). */
  d?: 1;
  /** Sessions: absorbed sessions whose results were emitted; the next result replaces them. */
  x?: WindowBounds[];
}

interface WinState {
  w: Win[];
  /** Sliding windows: recent events of the key, [timestamp, value], by timestamp. */
  b?: [number, unknown][];
  /** Pending early-results timer (wall clock). */
  p?: number;
}

type Ctx = ProcessContext<WindowResult<unknown>>;

/** A window's span as the state keeps it. */
interface Span {
  s: number;
  e: number;
}

export interface WindowFunctions {
  init: () => WinState;
  fn: (value: unknown, state: WinState, ctx: Ctx) => void;
  onTimer: (timer: Timer, state: WinState, ctx: Ctx) => void;
}

export function windowFunctions(spec: WindowSpec, agg: Aggregator<unknown, unknown, unknown>, options: WindowOptions): WindowFunctions {
  const processing = options.time === 'processing';
  const lateness = options.allowedLatenessMs ?? 0;
  const policy = options.late ?? 'drop';
  const lateOutput = options.lateOutput ?? 'late';
  const early = options.emit?.early;
  const everyMs = typeof early === 'object' ? early.everyMs : 0;
  const emitFinal = options.emit?.final ?? true;
  const retain = policy !== 'correct' ? 0 : (options.retainMs ?? (spec.type === 'session' ? spec.gap : spec.type === 'calendar' ? 31 * 86_400_000 : spec.size));
  if (lateness < 0 || retain < 0) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'window: allowedLatenessMs and retainMs must be >= 0');
  if (typeof early === 'object' && !(everyMs > 0)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `window: emit.early.everyMs must be > 0, got ${everyMs}`);
  if (spec.type === 'session' && !agg.merge) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'session windows merge sessions, so a custom aggregator needs merge(a, b)');
  const result = agg.result ?? ((a: unknown) => a);

  const clockOf = (ctx: Ctx) => (processing ? ctx.now : ctx.watermark);
  const setTimer = (ctx: Ctx, time: number) => (processing ? ctx.processingTimer(time) : ctx.timer(time));
  const closesAt = (w: Span) => w.e + lateness;

  function emit(ctx: Ctx, w: Win, kind: WindowResult<unknown>['kind']): void {
    w.r++;
    const out: WindowResult<unknown> = { key: ctx.key, start: w.s, end: w.e, value: result(w.a), kind, revision: w.r };
    if (w.x) {
      out.replaces = w.x;
      delete w.x;
    }
    ctx.emit(out, { timestamp: w.e - 1 });
  }

  /** An open window changed: an early result now, or at the next early tick. */
  function changed(ctx: Ctx, state: WinState, w: Win): void {
    if (early === 'every-event') emit(ctx, w, 'early');
    else if (everyMs > 0) {
      w.d = 1;
      if (state.p === undefined) {
        state.p = ctx.now + everyMs;
        ctx.processingTimer(state.p);
      }
    }
  }

  /** A closed window changed (late event, `correct` policy). */
  function corrected(ctx: Ctx, w: Win): void {
    emit(ctx, w, 'correction');
  }

  function late(ctx: Ctx, value: unknown, windows: WindowBounds[], reason: string): void {
    if (policy === 'side-output') {
      const ev: LateEvent<unknown> = { value, key: ctx.key, timestamp: ctx.timestamp, watermark: ctx.watermark, windows, reason };
      ctx.emit(ev as never, { to: lateOutput });
    } else ctx.count('late-dropped');
  }

  /** Where find() last found a window: an event's hopping windows are looked up in order, and usually sit in order. */
  let lastFound = 0;
  /** The key's window [s, e), if it has one (at most one: a plain loop, from just after the last one found). */
  function find(state: WinState, s: number, e: number): Win | undefined {
    const ws = state.w;
    const n = ws.length;
    for (let k = 0, i = lastFound + 1; k < n; k++, i++) {
      if (i >= n) i = 0;
      const w = ws[i]!;
      if (w.s === s && w.e === e) {
        lastFound = i;
        return w;
      }
    }
    return undefined;
  }
  const open = (state: WinState, s: number, e: number, acc: unknown): Win => {
    const w: Win = { s, e, a: acc, r: 0 };
    state.w.push(w);
    return w;
  };
  /** Whether a late event may still correct a window closing at `closeTime`. */
  const correctable = (clock: number, closeTime: number) => policy === 'correct' && clock < closeTime + retain;

  /** Tumbling and hopping windows: the starts of an event's windows, latest first (reused: no array per event). */
  const starts: number[] = [];

  function onFixed(value: unknown, state: WinState, ctx: Ctx, t: number, clock: number): void {
    let lateWindows: WindowBounds[] | null = null;
    let n = 0;
    if (spec.type === 'calendar') {
      for (const b of assignFixed(spec, t)) {
        n++;
        lateWindows = addFixed(value, state, ctx, clock, b.start, b.end, lateWindows);
      }
    } else if (spec.type === 'tumbling' || spec.type === 'hopping') {
      // The windows assignFixed returns, computed the same way, earliest first.
      const { size, offset } = spec;
      const hop = spec.type === 'hopping' ? spec.hop : size;
      let start = Math.floor((t - offset) / hop) * hop + offset;
      if (spec.type === 'tumbling') starts[n++] = start;
      else for (; start > t - size; start -= hop) starts[n++] = start;
      for (let i = n - 1; i >= 0; i--) lateWindows = addFixed(value, state, ctx, clock, starts[i]!, starts[i]! + size, lateWindows);
    }
    if (!lateWindows) return;
    // Late only when no window took it (as Flink decides); a hopping event that some open windows
    // took is counted apart, so the closed windows' loss is not silent.
    if (lateWindows.length === n) late(ctx, value, lateWindows, `the watermark (${clock}) passed the end of every window it belongs to plus the allowed lateness (${lateness} ms)`);
    else ctx.count('late-partial');
  }

  /**
   * Adds an event to its key's window [start, end); returns `lateWindows`,
   * with this window added if the event is late for it.
   */
  function addFixed(value: unknown, state: WinState, ctx: Ctx, clock: number, start: number, end: number, lateWindows: WindowBounds[] | null): WindowBounds[] | null {
    const closeTime = end + lateness;
    if (clock >= closeTime) {
      if (!correctable(clock, closeTime)) {
        (lateWindows ??= []).push({ start, end });
        return lateWindows;
      }
      const w = find(state, start, end) ?? open(state, start, end, agg.init());
      w.a = agg.add(w.a, value);
      w.f = 1;
      setTimer(ctx, closeTime + retain);
      corrected(ctx, w);
      return lateWindows;
    }
    let w = find(state, start, end);
    if (w) {
      w.a = agg.add(w.a, value);
      if (w.f) setTimer(ctx, closeTime); // closed, yet the clock says open: only if the wall clock went back
    } else {
      // A new window sets its closing timer; an open window's timer is pending until it closes it.
      w = open(state, start, end, agg.add(agg.init(), value));
      setTimer(ctx, closeTime);
    }
    changed(ctx, state, w);
    return lateWindows;
  }

  function onSession(value: unknown, state: WinState, ctx: Ctx, t: number, clock: number): void {
    const gap = (spec as { gap: number }).gap;
    const merged: Win = { s: t, e: t + gap, a: agg.add(agg.init(), value), r: 0 };
    const absorbed = state.w.filter((w) => t < w.e && w.s < t + gap);
    for (const w of absorbed) {
      merged.s = Math.min(merged.s, w.s);
      merged.e = Math.max(merged.e, w.e);
      merged.a = agg.merge!(w.a, merged.a);
      merged.r = Math.max(merged.r, w.r);
    }
    const closeTime = closesAt(merged);
    const closed = clock >= closeTime;
    if (closed && !correctable(clock, closeTime)) {
      late(ctx, value, [{ start: t, end: t + gap }], `the watermark (${clock}) passed the end of its session plus the allowed lateness (${lateness} ms)`);
      return;
    }
    const replaced: WindowBounds[] = [];
    const timerOf = (w: Win) => closesAt(w) + (w.f ? retain : 0);
    for (const w of absorbed) {
      // A session with replacements pending was never emitted with its bounds (its r came from what it absorbed).
      if (w.r > 0 && !w.x && (w.s !== merged.s || w.e !== merged.e)) replaced.push({ start: w.s, end: w.e });
      for (const x of w.x ?? []) replaced.push(x);
    }
    if (replaced.length > 0) merged.x = replaced;
    state.w = state.w.filter((w) => !absorbed.includes(w));
    // Timers are per key and time: another session of the key may be due at the same time.
    for (const w of absorbed) if (!processing && !state.w.some((o) => timerOf(o) === timerOf(w))) ctx.deleteTimer(timerOf(w));
    state.w.push(merged);
    state.w.sort((a, b) => a.s - b.s);
    if (closed) {
      merged.f = 1;
      setTimer(ctx, closeTime + retain);
      corrected(ctx, merged);
    } else {
      setTimer(ctx, closeTime);
      changed(ctx, state, merged);
    }
  }

  function onSliding(value: unknown, state: WinState, ctx: Ctx, t: number, clock: number): void {
    const size = (spec as { size: number }).size;
    const own = { s: t - size + 1, e: t + 1 };
    const closeTime = closesAt(own);
    if (clock >= closeTime && !correctable(clock, closeTime)) {
      late(ctx, value, [{ start: own.s, end: own.e }], `the watermark (${clock}) passed its own window's end plus the allowed lateness (${lateness} ms)`);
      return;
    }
    const buffer = (state.b ??= []);
    let i = buffer.length;
    while (i > 0 && buffer[i - 1]![0] > t) i--;
    buffer.splice(i, 0, [t, value]);
    // Later windows this event falls in (their ends are after t): each takes it.
    for (const w of state.w) {
      if (w.e === own.e || !(w.s <= t && t < w.e)) continue;
      w.a = agg.add(w.a, value);
      if (w.f) corrected(ctx, w);
      else changed(ctx, state, w);
    }
    let w = find(state, own.s, own.e);
    if (w) w.a = agg.add(w.a, value);
    else {
      let acc = agg.init();
      for (const [ts, v] of buffer) if (ts >= own.s && ts < own.e) acc = agg.add(acc, v);
      w = open(state, own.s, own.e, acc);
    }
    if (clock >= closeTime) {
      w.f = 1;
      setTimer(ctx, closeTime + retain);
      corrected(ctx, w);
    } else {
      setTimer(ctx, closeTime);
      changed(ctx, state, w);
    }
  }

  /** A key with nothing left (e.g. its first event was late: the runtime created its state anyway) keeps no state. */
  function clearIfEmpty(state: WinState, ctx: Ctx): void {
    if (state.w.length !== 0 || (state.b?.length ?? 0) !== 0) return;
    if (state.p !== undefined) ctx.deleteTimer(state.p, 'processing'); // no window left to give early results
    ctx.clearState();
  }

  return {
    init: () => ({ w: [] }),
    fn(value, state, ctx) {
      const t = processing ? ctx.now : ctx.timestamp;
      const clock = clockOf(ctx);
      if (spec.type === 'session') onSession(value, state, ctx, t, clock);
      else if (spec.type === 'sliding') onSliding(value, state, ctx, t, clock);
      else onFixed(value, state, ctx, t, clock);
      clearIfEmpty(state, ctx);
    },
    onTimer(timer, state, ctx) {
      if (everyMs > 0 && timer.domain === 'processing' && timer.time === state.p) {
        delete state.p;
        for (const w of state.w) {
          if (w.d && !w.f) emit(ctx, w, 'early');
          delete w.d;
        }
      }
      const clock = clockOf(ctx);
      const keep: Win[] = [];
      for (const w of state.w) {
        const closeTime = closesAt(w);
        if (!w.f && clock >= closeTime) {
          if (emitFinal) emit(ctx, w, 'final');
          w.f = 1;
          if (retain > 0) setTimer(ctx, closeTime + retain);
        }
        if (!w.f || clock < closeTime + retain) keep.push(w);
      }
      state.w = keep;
      if (state.b) {
        const size = (spec as { size: number }).size;
        const horizon = clock - lateness - retain - size;
        let k = 0;
        while (k < state.b.length && state.b[k]![0] < horizon) k++;
        if (k > 0) state.b.splice(0, k);
        // No window left to close: without a timer of its own the buffer would stay forever.
        const newest = state.b.at(-1);
        if (state.w.length === 0 && newest) setTimer(ctx, newest[0] + lateness + retain + size + 1);
      }
      clearIfEmpty(state, ctx);
    },
  };
}
