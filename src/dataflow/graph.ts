// The dataflow graph that the fluent API builds and the runtime executes.
// Nodes are plain data plus the user's functions; the engine (src/runtime/
// engine.ts) walks them. Keeping the graph separate from execution lets the
// same application run in a job, in a worker, or in the test driver.

import type { Decoder, Encoder } from '../codec.ts';
import type { Sink, Source } from './io.ts';
import type { Headers } from '../record.ts';
import type { ProcessContext } from './context.ts';

/** An event as it flows between operators: the decoded value plus its envelope. */
export interface Event<T = unknown> {
  value: T;
  /** Set by keyBy (and kept by stateless operators after it); null before. */
  key: string | null;
  /** State partition chosen by keyBy; -1 before. */
  partition: number;
  /** Event time, ms. */
  timestamp: number;
  /**
   * The event-time watermark when this event entered the job (before it):
   * stamped per event, so window results do not depend on how input was
   * batched (see src/runtime/event-clock.ts).
   */
  watermark: number;
  headers: Headers;
  /**
   * The order of the source record this event derives from, within one engine:
   * where branches of one stream meet again (merge, joins), events are put
   * back in this order, so each branch sees the others' events as the source
   * delivered them, whatever the batch size.
   */
  seq: number;
  /** Where the source record came from, for dead letters and error messages. */
  origin: string;
  position: number;
}

export type PartitionFunction = (key: string, partitions: number) => number;

/**
 * What every operator takes last: `map(fn, { name })`. The name labels the
 * operator in dead letters' `sluice.operator`, counters and (for stateful
 * ones) `sluice state` and the test driver.
 */
export interface OperatorOptions {
  name?: string;
}

/**
 * The name from an operator's options. A string is the old positional form
 * (`map(fn, 'name')`), still accepted for one release.
 * @deprecated the string form: pass `{ name }`.
 */
export function operatorName(options: OperatorOptions | string | undefined): string | undefined {
  return typeof options === 'string' ? options : options?.name;
}

export interface NodeBase {
  id: number;
  name: string;
  /** Downstream nodes; `port` selects a named output of a process node (undefined = main output). */
  children: { node: Node; port: string | undefined }[];
}

export interface SourceNode extends NodeBase {
  kind: 'source';
  source: Source;
  codec: Decoder<unknown>;
  /** Event time from the decoded value; 'processing': the wall clock at ingestion; default: the record's timestamp. */
  timestamp?: ((value: unknown, recordTimestamp: number) => number) | 'processing';
  /** How this source's watermark follows its event times. */
  watermark: WatermarkOptions;
  /**
   * Tables from changelog topics: each event's value is `{ key, value }` with
   * the record's key (UTF-8), and value null for a tombstone (not decoded).
   */
  withRecordKey?: boolean;
}

/** Bounded out-of-orderness per source partition, and when a quiet partition stops holding the watermark back. */
export interface WatermarkOptions {
  /** The watermark trails the largest event time seen on a partition by this much. */
  maxOutOfOrderMs: number;
  /** A partition with no data for this long (wall clock) no longer holds the watermark back; Infinity: never. */
  idleTimeoutMs: number;
}

export interface MapNode extends NodeBase {
  kind: 'map';
  fn: (value: unknown, event: Event) => unknown;
}

export interface FilterNode extends NodeBase {
  kind: 'filter';
  fn: (value: unknown, event: Event) => boolean;
}

export interface FlatMapNode extends NodeBase {
  kind: 'flatMap';
  fn: (value: unknown, event: Event) => Iterable<unknown>;
}

export interface KeyByNode extends NodeBase {
  kind: 'keyBy';
  keyFn: (value: unknown) => string | number;
  partitions: number;
  partitionFn: PartitionFunction;
}

export interface ProcessNode extends NodeBase {
  kind: 'process';
  init: (key: string) => unknown;
  fn: (value: unknown, state: unknown, ctx: ProcessContext<unknown>) => void;
  /** Number of state partitions (from the keyBy upstream). */
  partitions: number;
  /** Optional codec for state that is not plain JSON (Maps, Dates, class instances). */
  stateCodec?: StateCodec<unknown>;
  /** 'disk': this operator's keyed state is kept on disk, a cache of it in memory (docs/state-on-disk.md); default: the job's backend. */
  stateBackend?: 'memory' | 'disk';
  /** One state for the whole stream (`global()`): outputs carry no key unless emit gives one. */
  global?: boolean;
  /** A table's operator (its state per key is `{ v: row }`): what interactive queries may read. */
  table?: boolean;
  /** Called when a timer set with ctx.timer / ctx.processingTimer is due. */
  onTimer?: (timer: Timer, state: unknown, ctx: ProcessContext<unknown>) => void;
}

/** A due timer, as onTimer receives it. */
export interface Timer {
  /** When it was set to fire: event time (watermark) or wall-clock ms. */
  time: number;
  domain: TimeDomain;
}

export type TimeDomain = 'event' | 'processing';

export interface MergeNode extends NodeBase {
  kind: 'merge';
}

export interface SinkNode extends NodeBase {
  kind: 'sink';
  sink: Sink;
  codec: Encoder<unknown>;
  /** Output record key; default: the event's key (from keyBy), encoded as UTF-8. */
  key?: (value: unknown, event: Event) => string | null;
}

export type Node = SourceNode | MapNode | FilterNode | FlatMapNode | KeyByNode | ProcessNode | MergeNode | SinkNode;

/** How to snapshot state that is not a plain JSON-compatible object. */
export interface StateCodec<S> {
  toJSON(state: S): unknown;
  fromJSON(json: unknown): S;
}
