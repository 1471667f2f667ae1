// A pipeline: one or more sources, the operators between them, and the sinks
// they end in. An application runs all its pipelines side by side.

import type { Decoder } from '../codec.ts';
import type { Source } from './io.ts';
import type { Application } from './application.ts';
import type { Node, SourceNode, WatermarkOptions } from './graph.ts';
import { Stream } from './stream.ts';
import { Table, type TableOptions, type Upsert } from './table.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type NodeSpec = DistributiveOmit<Node, 'id' | 'children' | 'name'> & { name?: string | undefined };

export interface FromOptions<T> {
  /** Names the input (the test driver addresses it by this name). Default: the source's name. */
  name?: string;
  /**
   * Event time: from the decoded value (e.g. a field), 'record' for the
   * record's timestamp (the default), or 'processing' for the wall clock when
   * the record is read.
   */
  timestamp?: ((value: T, recordTimestamp: number) => number) | 'record' | 'processing';
  /** How the watermark follows event time (see docs/time.md). */
  watermark?: Partial<WatermarkOptions>;
}

/** Defaults: events are expected in order per partition; a partition quiet for 5 s stops holding time back. */
export const DEFAULT_WATERMARK: WatermarkOptions = { maxOutOfOrderMs: 0, idleTimeoutMs: 5000 };

export class Pipeline {
  readonly app: Application;
  readonly name: string;
  readonly nodes: Node[] = [];

  /** @internal */
  constructor(app: Application, name: string) {
    this.app = app;
    this.name = name;
  }

  /** Reads `source`, decoding each record's value with `codec`. */
  from<T>(source: Source, codec: Decoder<T>, options: FromOptions<T> = {}): Stream<T> {
    const node = this.node({
      kind: 'source',
      name: options.name ?? source.name,
      source,
      codec: codec as Decoder<unknown>,
      timestamp: options.timestamp === 'record' ? undefined : (options.timestamp as SourceNode['timestamp']),
      watermark: watermarkOptions(options.watermark),
    });
    return new Stream<T>(this, node);
  }

  /**
   * A table from a changelog topic (best compacted): each record's key is the
   * table key, its value the row (decoded with `codec`), and a null value
   * (tombstone) deletes the key.
   */
  table<V>(source: Source, codec: Decoder<V>, options: FromOptions<Upsert<V>> & TableOptions = {}): Table<V> {
    const node = this.node({
      kind: 'source',
      name: source.name,
      source,
      codec: codec as Decoder<unknown>,
      timestamp: options.timestamp === 'record' || options.timestamp === undefined ? undefined : (options.timestamp as SourceNode['timestamp']),
      // A table partition with nothing to read holds no one back: a rarely-changing table would
      // otherwise stall event time for the idle timeout after each of its updates.
      watermark: watermarkOptions({ idleTimeoutMs: 0, ...options.watermark }),
      withRecordKey: true,
    });
    return Table.fromUpserts(new Stream<Upsert<V>>(this, node), options);
  }

  /** @internal Adds a node with a fresh id. */
  node(spec: NodeSpec): Node {
    const id = this.app.nextNodeId();
    const node = { ...spec, id, name: spec.name ?? `${spec.kind}-${id}`, children: [] } as Node;
    this.nodes.push(node);
    return node;
  }

  sources(): SourceNode[] {
    return this.nodes.filter((n): n is SourceNode => n.kind === 'source');
  }
}

function watermarkOptions(o: Partial<WatermarkOptions> = {}): WatermarkOptions {
  const w = { ...DEFAULT_WATERMARK, ...o };
  if (!(w.maxOutOfOrderMs >= 0)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `from: watermark.maxOutOfOrderMs must be >= 0, got ${w.maxOutOfOrderMs}`);
  if (!(w.idleTimeoutMs >= 0)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `from: watermark.idleTimeoutMs must be >= 0 (0: idle whenever it has nothing to read; Infinity: never idle), got ${w.idleTimeoutMs}`);
  return w;
}
