// The fluent, typed API: a Stream<T> is a handle on a node of the graph; each
// operator adds a node and returns a handle on it. Types flow end to end: the
// source's codec fixes T, every operator's function types the next stream.

import type { Encoder } from '../codec.ts';
import type { Sink } from './io.ts';
import type { ProcessContext } from './context.ts';
import { operatorName, type Event, type KeyByNode, type Node, type OperatorOptions, type PartitionFunction, type ProcessNode, type StateCodec, type Timer } from './graph.ts';
import { WindowedStream } from './windowed-stream.ts';
import { streamStreamJoin, streamTableJoin, type StreamStreamJoinOptions, type StreamTableJoinOptions } from './joins.ts';
import { Table, applyUpsert, type Change, type TableOptions, type Upsert } from './table.ts';
import type { WindowOptions, WindowSpec } from './windows.ts';
import type { Pipeline } from './pipeline.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';

/** What operators may read about the current event besides its value. */
export type EventInfo = Readonly<Pick<Event, 'key' | 'timestamp' | 'headers' | 'origin' | 'position'>>;

export interface KeyByOptions {
  /** Number of state partitions; fixed for the job's life. Default: the application's `partitions`. */
  partitions?: number;
  /** Maps a key to a partition in [0, partitions). Default: murmur2 of the key's UTF-8 bytes, as for topics. */
  partitioner?: PartitionFunction;
}

export interface ProcessOptions<S, O = unknown> extends OperatorOptions {
  /** For state that is not a plain JSON-compatible object. */
  stateCodec?: StateCodec<S>;
  /**
   * 'disk': keep this operator's keyed state on disk, with a cache of it in
   * memory (docs/state-on-disk.md); 'memory': in memory even when the job runs with
   * --state-backend disk. Default: the job's backend.
   */
  stateBackend?: 'memory' | 'disk';
  /** Called for each timer the function set (ctx.timer / ctx.processingTimer) when it is due. */
  onTimer?: (timer: Timer, state: S, ctx: ProcessContext<O>) => void;
}

export interface ToOptions<T> extends OperatorOptions {
  /** The output record's key; default: the key set by keyBy, if any. */
  key?: (value: T, event: EventInfo) => string | null;
}

export class Stream<T> {
  /** @internal */
  readonly node: Node;
  /** @internal */
  readonly pipeline: Pipeline;
  /** @internal */
  readonly port: string | undefined;

  /** @internal */
  constructor(pipeline: Pipeline, node: Node, port?: string) {
    this.pipeline = pipeline;
    this.node = node;
    this.port = port;
  }

  private then<U>(node: Node): Stream<U> {
    this.node.children.push({ node, port: this.port });
    return new Stream<U>(this.pipeline, node);
  }

  map<U>(fn: (value: T, event: EventInfo) => U, options?: OperatorOptions | string): Stream<U> {
    return this.then(this.pipeline.node({ kind: 'map', name: operatorName(options), fn: fn as (v: unknown, e: Event) => unknown }));
  }

  filter<S extends T>(fn: (value: T, event: EventInfo) => value is S, options?: OperatorOptions | string): Stream<S>;
  filter(fn: (value: T, event: EventInfo) => boolean, options?: OperatorOptions | string): Stream<T>;
  filter(fn: (value: T, event: EventInfo) => boolean, options?: OperatorOptions | string): Stream<T> {
    return this.then(this.pipeline.node({ kind: 'filter', name: operatorName(options), fn: fn as (v: unknown, e: Event) => boolean }));
  }

  /**
   * Re-stamps each event's event time (e.g. a join result with its search's
   * time, before windowing by it). The watermark is not changed: a time
   * earlier than the watermark makes the event late downstream.
   */
  withTimestamps(fn: (value: T, event: EventInfo) => number, options?: OperatorOptions | string): Stream<T> {
    return this.then(
      this.pipeline.node({
        kind: 'map',
        name: operatorName(options) ?? 'with-timestamps',
        fn: (v: unknown, e: Event) => {
          const ts = fn(v as T, e);
          if (typeof ts !== 'number' || !Number.isFinite(ts)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `withTimestamps: the function returned ${String(ts)}, not a finite number of ms`);
          e.timestamp = ts;
          return v;
        },
      }),
    );
  }

  /** Zero or more outputs per input. */
  flatMap<U>(fn: (value: T, event: EventInfo) => Iterable<U>, options?: OperatorOptions | string): Stream<U> {
    return this.then(this.pipeline.node({ kind: 'flatMap', name: operatorName(options), fn: fn as (v: unknown, e: Event) => Iterable<unknown> }));
  }

  /**
   * Splits the stream: each event goes to the first branch whose predicate it
   * matches; returns one stream per predicate, plus a last one for events that
   * matched none.
   */
  branch(...predicates: ((value: T, event: EventInfo) => boolean)[]): Stream<T>[] {
    const out: Stream<T>[] = [];
    for (let i = 0; i <= predicates.length; i++) {
      const earlier = predicates.slice(0, i);
      const mine = predicates[i];
      out.push(this.filter((v, e) => !earlier.some((p) => p(v, e)) && (mine === undefined || mine(v, e)), { name: `branch-${i}` }));
    }
    return out;
  }

  /** One stream of the events of this and the other streams (of the same pipeline). */
  merge(...others: Stream<T>[]): Stream<T> {
    const node = this.pipeline.node({ kind: 'merge' });
    for (const s of [this, ...others]) {
      if (s.pipeline !== this.pipeline) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `merge: streams must belong to the same pipeline (${s.pipeline.name} vs ${this.pipeline.name})`);
      s.node.children.push({ node, port: s.port });
    }
    return new Stream<T>(this.pipeline, node);
  }

  /** Routes each event to a state partition by key, for stateful processing. */
  keyBy(fn: (value: T) => string | number, options: KeyByOptions = {}): KeyedStream<T> {
    const partitions = options.partitions ?? this.pipeline.app.options.partitions;
    if (!Number.isInteger(partitions) || partitions < 1) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `keyBy: partitions must be a positive integer, got ${partitions}`);
    const node = this.pipeline.node({
      kind: 'keyBy',
      keyFn: fn as (v: unknown) => string | number,
      partitions,
      partitionFn: options.partitioner ?? this.pipeline.app.defaultPartitioner,
    }) as KeyByNode;
    this.node.children.push({ node, port: this.port });
    return new KeyedStream<T>(this.pipeline, node);
  }

  /**
   * One state for the whole stream, processed in order by a single task: for
   * decisions that read several keys at once (the bank-transfer example).
   */
  global<S extends object, O>(init: () => S, fn: (value: T, state: S, ctx: ProcessContext<O>) => void, options: ProcessOptions<S> = {}): Stream<O> {
    const out = this.keyBy(() => '', { partitions: 1, partitioner: () => 0 }).process(init, fn, options);
    (out.node as ProcessNode).global = true;
    return out;
  }

  /** The events a process function emitted with `ctx.emit(v, { to: name })`. */
  sideOutput<U>(name: string): Stream<U> {
    if (this.node.kind !== 'process') throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'sideOutput: only the output of process() (or an aggregation) has side outputs');
    return new Stream<U>(this.pipeline, this.node, name);
  }

  /**
   * Drops an event whose `keyFn` (e.g. a request id) is still remembered:
   * each id is remembered from its first sighting until the watermark passes
   * that sighting's timestamp plus `withinMs` (whatever the duplicate's own
   * timestamp), so state is bounded by the ids of that horizon. Dropped duplicates are counted
   * (`duplicates`). The output is keyed by `keyFn`: keyBy again as needed.
   */
  dedupe(keyFn: (value: T) => string | number, withinMs: number, options: OperatorOptions & { partitions?: number } = {}): Stream<T> {
    if (!(withinMs > 0)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `dedupe: withinMs must be > 0, got ${withinMs}`);
    return this.keyBy(keyFn, { partitions: options.partitions }).process<{ first: number | null }, T>(
      () => ({ first: null }),
      (value, state, ctx) => {
        if (state.first !== null) {
          ctx.count('duplicates');
          ctx.unchanged();
          return;
        }
        state.first = ctx.timestamp;
        ctx.emit(value);
        ctx.timer(ctx.timestamp + withinMs);
      },
      {
        name: options.name ?? 'dedupe',
        onTimer: (_t, _s, ctx) => ctx.clearState(),
      },
    );
  }

  /**
   * Joins each event with the table's current row for its key (`options.key`),
   * or — given a stream — with the other stream's events of the same key
   * within `options.within` ms of event time. Inner: events without a match
   * produce nothing. See docs/tables-and-joins.md.
   */
  join<V, R>(table: Table<V>, options: Omit<StreamTableJoinOptions<T, V, R>, 'fn'> & { fn: (value: T, row: V, key: string) => R }): Stream<R>;
  join<U, R>(other: Stream<U>, options: Omit<StreamStreamJoinOptions<T, U, R>, 'fn'> & { fn: (value: T, other: U, key: string) => R }): Stream<R>;
  join(other: Table<unknown> | Stream<unknown>, options: object): Stream<unknown> {
    return other instanceof Table
      ? streamTableJoin(this, other, options as unknown as StreamTableJoinOptions<T, unknown, unknown>, false)
      : streamStreamJoin(this, other, options as unknown as StreamStreamJoinOptions<T, unknown, unknown>, false);
  }

  /** As join, but every event of this stream comes out: with null when nothing matched (for a stream, once its interval closed). */
  leftJoin<V, R>(table: Table<V>, options: StreamTableJoinOptions<T, V, R>): Stream<R>;
  leftJoin<U, R>(other: Stream<U>, options: StreamStreamJoinOptions<T, U, R>): Stream<R>;
  leftJoin(other: Table<unknown> | Stream<unknown>, options: object): Stream<unknown> {
    return other instanceof Table
      ? streamTableJoin(this, other, options as unknown as StreamTableJoinOptions<T, unknown, unknown>, true)
      : streamStreamJoin(this, other, options as unknown as StreamStreamJoinOptions<T, unknown, unknown>, true);
  }

  /** A table of the latest value per `keyFn`. */
  toTable(keyFn: (value: T) => string | number, options: TableOptions = {}): Table<T> {
    return Table.fromUpserts(this.map((value): Upsert<T> => ({ key: String(keyFn(value)), value }), { name: 'to-upsert' }), options);
  }

  /** Encodes each event with `codec` and writes it to `sink`. */
  to(sink: Sink, codec: Encoder<T>, options: ToOptions<T> = {}): void {
    this.then(
      this.pipeline.node({
        kind: 'sink',
        name: options.name ?? sink.name,
        sink,
        codec: codec as Encoder<unknown>,
        key: options.key as ((v: unknown, e: Event) => string | null) | undefined,
      }),
    );
  }
}

export class KeyedStream<T> {
  private readonly pipeline: Pipeline;
  private readonly keyNode: KeyByNode;

  /** @internal */
  constructor(pipeline: Pipeline, keyNode: KeyByNode) {
    this.pipeline = pipeline;
    this.keyNode = keyNode;
  }

  /**
   * Stateful processing: `state` is the plain object for the event's key,
   * created by `init(key)` the first time the key is seen, mutated in place.
   */
  process<S extends object, O>(init: (key: string) => S, fn: (value: T, state: S, ctx: ProcessContext<O>) => void, options: ProcessOptions<S, O> = {}): Stream<O> {
    const node: ProcessNode = this.pipeline.node({
      kind: 'process',
      name: options.name,
      init,
      fn: fn as ProcessNode['fn'],
      partitions: this.keyNode.partitions,
      stateCodec: options.stateCodec as StateCodec<unknown> | undefined,
      stateBackend: options.stateBackend,
      onTimer: options.onTimer as ProcessNode['onTimer'],
    }) as ProcessNode;
    this.keyNode.children.push({ node, port: undefined });
    return new Stream<O>(this.pipeline, node);
  }

  /**
   * Groups each key's events into windows of event time (or, with
   * `{ time: 'processing' }`, of the wall clock) for an aggregation:
   * `.window(tumbling(60_000)).count()`. See docs/time.md.
   */
  window(spec: WindowSpec, options: WindowOptions = {}): WindowedStream<T> {
    return new WindowedStream(this, spec, options);
  }

  /** A table of the latest value per key; its changes come out of `toStream()`. */
  toTable(options: Omit<TableOptions, 'partitions'> = {}): Table<T> {
    const changes = this.process<{ v?: T }, Change<T>>(() => ({}), (value, row, ctx) => applyUpsert(value, row, ctx), { name: options.name });
    (changes.node as ProcessNode).table = true;
    return new Table(changes, changes.node.name);
  }

  /** Running count per key: emits `{ key, count }` on every event. */
  count(options?: OperatorOptions | string): Stream<{ key: string; count: number }> {
    return this.process(
      () => ({ count: 0 }),
      (_v, s, ctx: ProcessContext<{ key: string; count: number }>) => {
        s.count++;
        ctx.emit({ key: ctx.key, count: s.count });
      },
      { name: operatorName(options) ?? 'count' },
    );
  }

  /** Running sum per key: emits `{ key, sum }` on every event. */
  sum(fn: (value: T) => number, options?: OperatorOptions | string): Stream<{ key: string; sum: number }> {
    return this.process(
      () => ({ sum: 0 }),
      (v, s, ctx: ProcessContext<{ key: string; sum: number }>) => {
        s.sum += fn(v);
        ctx.emit({ key: ctx.key, sum: s.sum });
      },
      { name: operatorName(options) ?? 'sum' },
    );
  }

  /** Running reduction per key: the first event is the initial value. Emits `{ key, value }`. */
  reduce(fn: (acc: T, value: T) => T, options?: OperatorOptions | string): Stream<{ key: string; value: T }> {
    return this.process(
      () => ({ has: false, value: null as T | null }),
      (v, s, ctx: ProcessContext<{ key: string; value: T }>) => {
        s.value = s.has ? fn(s.value as T, v) : v;
        s.has = true;
        ctx.emit({ key: ctx.key, value: s.value });
      },
      { name: operatorName(options) ?? 'reduce' },
    );
  }

  /** Running aggregate per key from `init()`; emits `{ key, value }`. */
  aggregate<A>(init: () => A, fn: (acc: A, value: T) => A, options?: OperatorOptions | string): Stream<{ key: string; value: A }> {
    return this.process(
      () => ({ value: init() }),
      (v, s, ctx: ProcessContext<{ key: string; value: A }>) => {
        s.value = fn(s.value, v);
        ctx.emit({ key: ctx.key, value: s.value });
      },
      { name: operatorName(options) ?? 'aggregate' },
    );
  }
}
