// Tables: a keyed view materialised from a stream of changes. A table is a
// stateful operator whose state per key is the current row, so it is
// checkpointed, restored and queryable like any other state; its output is
// its changelog — one Change per update or deletion — which is what joins,
// `toStream()` and `to(topic)` consume.

import type { Decoder, Encoder } from '../codec.ts';
import type { Sink } from './io.ts';
import type { ProcessContext } from './context.ts';
import { tableTableJoin } from './joins.ts';
import type { ProcessNode } from './graph.ts';
import type { Stream } from './stream.ts';

/** One change of a table: the key's new row, or null when the key was deleted. */
export interface Change<V> {
  key: string;
  value: V | null;
  /** The row before this change (null: the key was absent). */
  old: V | null;
}

/** What a table is built from: rows to upsert, or null to delete the key. */
export interface Upsert<V> {
  key: string;
  value: V | null;
}

export interface TableOptions {
  /** Names the table's operator: its state, and what queries address (Job.table, TestDriver.state). */
  name?: string;
  /** State partitions (default: the application's). */
  partitions?: number;
}

/** The state of one key of a table. */
interface Row<V> {
  v?: V;
}

/** Applies an upsert to a key's row; emits the change, if any. */
export function applyUpsert<V>(value: V | null, row: Row<V>, ctx: ProcessContext<Change<V>>): void {
  const old = row.v ?? null;
  if (value === null) {
    // Deleting an absent key changes nothing, but get() created its (empty) state: drop that too.
    ctx.clearState();
    if (old === null) return;
    ctx.emit({ key: ctx.key, value: null, old });
    return;
  }
  row.v = value;
  ctx.emit({ key: ctx.key, value, old });
}

export class Table<V> {
  /** The operator holding the rows: the name queries use. */
  readonly name: string;
  private readonly changes: Stream<Change<V>>;

  /** @internal */
  constructor(changes: Stream<Change<V>>, name: string) {
    this.changes = changes;
    this.name = name;
  }

  /** Materialises a stream of upserts (value null deletes the key). */
  static fromUpserts<V>(upserts: Stream<Upsert<V>>, options: TableOptions = {}): Table<V> {
    const changes = upserts
      .keyBy((u) => u.key, { partitions: options.partitions })
      .process<Row<V>, Change<V>>(() => ({}), (u, row, ctx) => applyUpsert(u.value, row, ctx), { name: options.name });
    (changes.node as ProcessNode).table = true;
    return new Table(changes, changes.node.name);
  }

  /** The table's changelog: every update and deletion, in order per key. */
  toStream(): Stream<Change<V>> {
    return this.changes;
  }

  /**
   * Writes the changelog to a sink (a compacted topic): the record key is the
   * table key, the value the encoded row, and a deletion is a tombstone.
   */
  to(sink: Sink, codec: Encoder<V>, options: { name?: string } = {}): void {
    // Keeps the codec's decoder too, if it has one: the test driver decodes what a sink received with it.
    const decode = (codec as Partial<Decoder<V>>).decode?.bind(codec);
    const tombstones: Encoder<Change<V>> & Partial<Decoder<V | null>> = {
      encode: (c) => (c.value === null ? null : codec.encode(c.value)),
      ...(decode && { decode: (b: Uint8Array | null) => (b === null ? null : decode(b)) }),
    };
    this.changes.to(sink, tombstones, { name: options.name, key: (c) => c.key });
  }

  /** A table of the rows whose key is in both tables, updated (and deleted) as either side changes. */
  join<W, R>(other: Table<W>, fn: (row: V, otherRow: W, key: string) => R, options: TableOptions = {}): Table<R> {
    return tableTableJoin(this, other, fn as (a: V, b: W | null, key: string) => R, false, options);
  }

  /** A table of every row of this table, with the other table's row for its key or null. */
  leftJoin<W, R>(other: Table<W>, fn: (row: V, otherRow: W | null, key: string) => R, options: TableOptions = {}): Table<R> {
    return tableTableJoin(this, other, fn, true, options);
  }
}
