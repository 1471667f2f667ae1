// Joins, built from the operators everything else uses: both inputs are
// tagged with their side, merged, and keyed by the join key — which
// co-partitions them, repartitioning whichever side was keyed differently —
// into one stateful operator that holds what each side needs of the other.
//
//   stream-table   the table's rows live in the join's state; each event is
//                  joined with its key's row when it is processed.
//   stream-stream  both sides are buffered per key for the join interval and
//                  purged (timers) when the watermark passes it.
//   table-table    the join's state holds both rows of each key; a change on
//                  either side emits the key's new joined row or its deletion.

import type { ProcessContext } from './context.ts';
import { Table, type Change, type TableOptions, type Upsert } from './table.ts';
import type { Stream } from './stream.ts';
import type { LateEvent } from './windows.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';

interface Tagged {
  /** 0: left (or the stream), 1: right (or the table). */
  s: 0 | 1;
  v: unknown;
}

function tagAndKey(left: Stream<unknown>, right: Stream<unknown>, leftKey: (v: unknown) => string | number, rightKey: (v: unknown) => string | number, partitions: number | undefined) {
  const l = left.map((v): Tagged => ({ s: 0, v }), { name: 'join-left' });
  const r = right.map((v): Tagged => ({ s: 1, v }), { name: 'join-right' });
  return l.merge(r).keyBy((t) => (t.s === 0 ? leftKey(t.v) : rightKey(t.v)), { partitions });
}

// ---- stream-table ------------------------------------------------------------

export interface StreamTableJoinOptions<T, V, R> {
  /** The join key of an event (the table's key). */
  key: (value: T) => string | number;
  /** The joined value; `row` is null only in a left join. */
  fn: (value: T, row: V | null, key: string) => R;
  /**
   * An event whose key has no row yet waits up to this long (event time: until
   * the watermark passes its timestamp plus waitMs) for the row to arrive;
   * then a left join emits it with null, an inner join drops it (counted as
   * `unmatched`). Default 0: decided at once.
   */
  waitMs?: number;
  name?: string;
  partitions?: number;
}

interface StreamTableState {
  t?: unknown;
  /** Events waiting for the row: [timestamp, value]. */
  w?: [number, unknown][];
}

export function streamTableJoin<T, V, R>(stream: Stream<T>, table: Table<V>, o: StreamTableJoinOptions<T, V, R>, left: boolean): Stream<R> {
  const wait = o.waitMs ?? 0;
  if (!(wait >= 0)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `join: waitMs must be >= 0, got ${wait}`);
  const unmatched = (v: unknown, ctx: ProcessContext<R>) => (left ? ctx.emit(o.fn(v as T, null, ctx.key)) : ctx.count('unmatched'));

  const keyed = tagAndKey(stream as Stream<unknown>, table.toStream() as Stream<unknown>, o.key as (v: unknown) => string, (c) => (c as Change<V>).key, o.partitions);
  return keyed.process<StreamTableState, R>(
    () => ({}),
    (t, st, ctx) => {
      if (t.s === 1) {
        const row = (t.v as Change<V>).value;
        if (row === null) delete st.t;
        else st.t = row;
        if (row !== null && st.w) {
          for (const [ts, v] of st.w) {
            ctx.emit(o.fn(v as T, row, ctx.key), { timestamp: ts });
            ctx.deleteTimer(ts + wait);
          }
          delete st.w;
        }
      } else if (st.t !== undefined) {
        ctx.emit(o.fn(t.v as T, st.t as V, ctx.key));
        ctx.unchanged(); // a lookup: the row need not be saved again
        return;
      }
      else if (wait > 0 && ctx.timestamp + wait > ctx.watermark) {
        (st.w ??= []).push([ctx.timestamp, t.v]);
        ctx.timer(ctx.timestamp + wait);
      } else unmatched(t.v, ctx);
      if (st.t === undefined && !st.w) ctx.clearState();
    },
    {
      name: o.name,
      onTimer: (timer, st, ctx) => {
        const keep: [number, unknown][] = [];
        for (const [ts, v] of st.w ?? []) {
          if (ts + wait > timer.time) keep.push([ts, v]);
          else if (left) ctx.emit(o.fn(v as T, null, ctx.key), { timestamp: ts });
          else ctx.count('unmatched');
        }
        if (keep.length > 0) st.w = keep;
        else delete st.w;
        if (st.t === undefined && !st.w) ctx.clearState();
      },
    },
  );
}

// ---- stream-stream -----------------------------------------------------------

export interface StreamStreamJoinOptions<T, U, R> {
  key: (value: T) => string | number;
  otherKey: (value: U) => string | number;
  /**
   * Which events match: an other-side event at most `within` ms from this
   * side's, or within [t - before, t + after] of this side's timestamp t.
   */
  within: number | { before: number; after: number };
  fn: (value: T, other: U | null, key: string) => R;
  /** How far behind the watermark an event may be and still be joined (buffered events are kept as much longer). Default 0. */
  allowedLatenessMs?: number;
  /** An event behind the watermark by more than the allowed lateness: 'drop' (counted as `late-dropped`, the default) or 'side-output'. */
  late?: 'drop' | 'side-output';
  lateOutput?: string;
  name?: string;
  partitions?: number;
}

interface StreamStreamState {
  /** This side's buffered events: [timestamp, value, matched]. */
  l: [number, unknown, 0 | 1][];
  /** The other side's: [timestamp, value]. */
  r: [number, unknown][];
}

export function streamStreamJoin<T, U, R>(left: Stream<T>, right: Stream<U>, o: StreamStreamJoinOptions<T, U, R>, outer: boolean): Stream<R> {
  const before = typeof o.within === 'number' ? o.within : o.within.before;
  const after = typeof o.within === 'number' ? o.within : o.within.after;
  const lateness = o.allowedLatenessMs ?? 0;
  if (!(before >= 0 && after >= 0 && lateness >= 0)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'join: within, before, after and allowedLatenessMs must be >= 0');
  // An event can match no more partners once the watermark passes its interval's end.
  const leftEnd = (ts: number) => ts + after + 1 + lateness;
  const rightEnd = (ts: number) => ts + before + 1 + lateness;
  const keyed = tagAndKey(left as Stream<unknown>, right as Stream<unknown>, o.key as (v: unknown) => string, o.otherKey as (v: unknown) => string, o.partitions);
  return keyed.process<StreamStreamState, R>(
    () => ({ l: [], r: [] }),
    (t, st, ctx) => {
      const ts = ctx.timestamp;
      const end = t.s === 0 ? leftEnd(ts) : rightEnd(ts);
      // Late once the watermark passes ts + lateness, even if its own interval is still open: the
      // earliest partners it could match (the other side at ts - after for a left event, ts - before
      // for a right one) were let go when the watermark passed ts + lateness; joining it anyway
      // would silently miss those pairs (and emit a left event with null although it matched).
      if (ts + 1 + lateness <= ctx.watermark) {
        if (o.late === 'side-output') {
          const ev: LateEvent<unknown> = { value: t.v, key: ctx.key, timestamp: ts, watermark: ctx.watermark, windows: [{ start: ts - (t.s === 0 ? before : after), end: ts + (t.s === 0 ? after : before) + 1 }], reason: `the watermark (${ctx.watermark}) passed its timestamp plus the allowed lateness (${lateness} ms): partners in its join interval may already be gone` };
          ctx.emit(ev as never, { to: o.lateOutput ?? 'late' });
        } else ctx.count('late-dropped');
        if (st.l.length === 0 && st.r.length === 0) ctx.clearState();
        return;
      }
      // Indexed loops and in-place purges: this runs for every event and every timer of both streams.
      const key = ctx.key;
      if (t.s === 0) {
        let matched: 0 | 1 = 0;
        const r = st.r;
        for (let i = 0; i < r.length; i++) {
          const rts = r[i]![0];
          if (rts >= ts - before && rts <= ts + after) {
            ctx.emit(o.fn(t.v as T, r[i]![1] as U, key), { timestamp: Math.max(ts, rts) });
            matched = 1;
          }
        }
        st.l.push([ts, t.v, matched]);
      } else {
        const l = st.l;
        for (let i = 0; i < l.length; i++) {
          const entry = l[i]!;
          const lts = entry[0];
          if (ts >= lts - before && ts <= lts + after) {
            ctx.emit(o.fn(entry[1] as T, t.v as U, key), { timestamp: Math.max(ts, lts) });
            entry[2] = 1;
          }
        }
        st.r.push([ts, t.v]);
      }
      ctx.timer(end);
    },
    {
      name: o.name,
      onTimer: (timer, st, ctx) => {
        const w = timer.time;
        const l = st.l;
        // Emit first, purge after: if fn throws, the state stays as it was (the outputs of a failed call are dropped).
        if (outer) {
          for (let i = 0; i < l.length; i++) {
            const [ts, v, matched] = l[i]!;
            if (leftEnd(ts) <= w && !matched) ctx.emit(o.fn(v as T, null, ctx.key), { timestamp: ts });
          }
        }
        let k = 0;
        for (let i = 0; i < l.length; i++) if (leftEnd(l[i]![0]) > w) l[k++] = l[i]!;
        l.length = k;
        const r = st.r;
        k = 0;
        for (let i = 0; i < r.length; i++) if (rightEnd(r[i]![0]) > w) r[k++] = r[i]!;
        r.length = k;
        if (l.length === 0 && r.length === 0) ctx.clearState();
      },
    },
  );
}

// ---- table-table -------------------------------------------------------------

interface TableTableState {
  a?: unknown;
  b?: unknown;
  /** A joined row was emitted and not deleted since. */
  out?: 1;
}

export function tableTableJoin<V, W, R>(a: Table<V>, b: Table<W>, fn: (a: V, b: W | null, key: string) => R, outer: boolean, options: TableOptions): Table<R> {
  const key = (c: unknown) => (c as Change<unknown>).key;
  const keyed = tagAndKey(a.toStream() as Stream<unknown>, b.toStream() as Stream<unknown>, key, key, options.partitions);
  const upserts = keyed.process<TableTableState, Upsert<R>>(
    () => ({}),
    (t, st, ctx) => {
      const row = (t.v as Change<unknown>).value;
      const side = t.s === 0 ? 'a' : 'b';
      if (row === null) delete st[side];
      else st[side] = row;
      const joined = st.a !== undefined && (outer || st.b !== undefined) ? fn(st.a as V, (st.b ?? null) as W | null, ctx.key) : null;
      if (joined !== null) {
        st.out = 1;
        ctx.emit({ key: ctx.key, value: joined });
      } else if (st.out) {
        delete st.out;
        ctx.emit({ key: ctx.key, value: null });
      }
      if (st.a === undefined && st.b === undefined) ctx.clearState();
    },
    { name: options.name === undefined ? undefined : `${options.name}-sides` },
  );
  return Table.fromUpserts(upserts, options);
}
