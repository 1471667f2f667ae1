// Reading topics into a job. The source owns every partition of its topics and
// merges them deterministically: it visits the partitions in a fixed rotation
// (sorted by topic, then partition number), taking up to one batch from each
// that has records. Where the rotation stands is part of the checkpoint, so a
// job restarted from a checkpoint reads the same records in the same order as
// the run it replaces — the precondition for exactly-once output of a
// deterministic job. (With inputs still being written, which partition has
// data when depends on timing; replay of what was committed does not.)
//
// Positions are committed as the consumer group's offsets: in the checkpoint's
// transaction (exactly-once), or after the outputs are flushed (at-least-once).

import { ErrorCodes, isSluiceError, SluiceError } from '../errors.ts';
import type { Log, TopicPartition, TopicPartitionOffset } from '../log/log.ts';
import type { Source, SourceBatch, SourceCheckpoint, SourceContext, SourceRecord } from '../dataflow/io.ts';
import { checkObject, checkOneOf, checkString, invalid } from './options.ts';

export interface TopicSourceOptions {
  topic: string | string[];
  /** Consumer group whose offsets are read and committed. Default: the job's name. */
  group?: string;
  /** Where a partition starts when the group has no committed offset for it. Default 'beginning'. */
  from?: 'beginning' | 'end';
}

interface PartitionCursor {
  topic: string;
  partition: number;
  position: number;
  /** untilEnd: the end offset when the job started. */
  end: number;
  /** The last read found no records: the partition has nothing more for now. */
  caughtUp: boolean;
}

/** A topic partition's origin name (SourceBatch.origin, dead letters' sluice.origin), e.g. "topic:orders/3". */
export function topicOrigin(tp: TopicPartition): string {
  return `topic:${tp.topic}/${tp.partition}`;
}

export class TopicSource implements Source {
  readonly name: string;
  /** The topics read, sorted (a job checks they all exist before it creates anything). */
  readonly topics: readonly string[];
  readonly #topics: string[];
  readonly #group: string | undefined;
  readonly #from: 'beginning' | 'end';
  #log: Log | null = null;
  #groupName = '';
  #cursors: PartitionCursor[] = [];
  #turn = 0;
  #untilEnd = false;
  #maxBatch = 1000;

  constructor(topics: string[], group: string | undefined, from: 'beginning' | 'end') {
    this.#topics = [...new Set(topics)].sort();
    this.topics = this.#topics;
    this.#group = group;
    this.#from = from;
    this.name = `topic ${topics.join(',')}`;
  }

  async open(ctx: SourceContext): Promise<void> {
    this.#log = ctx.log;
    this.#groupName = this.#group ?? ctx.job;
    this.#untilEnd = ctx.untilEnd;
    this.#maxBatch = Math.max(1, ctx.maxBatchRecords);
    const committed = new Map((await ctx.log.committedOffsets(this.#groupName)).map((o) => [`${o.topic}\0${o.partition}`, o.offset]));
    this.#cursors = [];
    for (const topic of this.#topics) {
      for (const p of await ctx.log.endOffsets(topic)) {
        const c = committed.get(`${topic}\0${p.partition}`);
        const start = c ?? (this.#from === 'end' ? p.endOffset : p.startOffset);
        this.#cursors.push({ topic, partition: p.partition, position: Math.max(start, p.startOffset), end: p.endOffset, caughtUp: false });
      }
    }
  }

  restore(state: unknown): void {
    const turn = (state as { turn?: unknown } | null)?.turn;
    if (typeof turn === 'number' && Number.isInteger(turn) && turn >= 0) this.#turn = turn % Math.max(1, this.#cursors.length);
  }

  async next(signal: AbortSignal): Promise<SourceBatch | null> {
    const log = this.#logOrThrow();
    const n = this.#cursors.length;
    for (;;) {
      if (signal.aborted) return null;
      for (let k = 0; k < n; k++) {
        const i = (this.#turn + k) % n;
        const batch = await this.#readFrom(log, this.#cursors[i]!);
        if (batch) {
          this.#turn = (i + 1) % n;
          return batch;
        }
      }
      if (this.#untilEnd && this.#cursors.every((c) => c.position >= c.end)) return null;
      // Nothing readable: wait (no polling) until any partition has more, or the job stops.
      const ac = new AbortController();
      const stop = () => ac.abort();
      signal.addEventListener('abort', stop, { once: true });
      try {
        await Promise.race(this.#cursors.filter((c) => !this.#untilEnd || c.position < c.end).map((c) => log.waitFor(c.topic, c.partition, c.position, ac.signal)));
      } finally {
        ac.abort();
        signal.removeEventListener('abort', stop);
      }
    }
  }

  async #readFrom(log: Log, c: PartitionCursor): Promise<SourceBatch | null> {
    if (this.#untilEnd && c.position >= c.end) return null;
    const want = this.#untilEnd ? Math.min(this.#maxBatch, c.end - c.position) : this.#maxBatch;
    let r;
    try {
      r = await log.read(c.topic, c.partition, c.position, { maxRecords: want });
    } catch (e) {
      if (!isSluiceError(e, ErrorCodes.OFFSET_OUT_OF_RANGE)) throw e;
      const start = e.details['startOffset'];
      if (typeof start !== 'number' || start <= c.position) throw e;
      // Retention deleted records the group had not read: say so, and go on from the oldest kept.
      process.emitWarning(`${c.topic}/${c.partition}: offsets ${c.position}-${start - 1} were deleted by retention before the job read them; continuing at ${start}`);
      c.position = start;
      return null;
    }
    const first = r.records[0];
    if (!first) {
      c.position = Math.max(c.position, r.nextOffset); // past aborted transactions and control records
      c.caughtUp = c.position >= r.highWatermark;
      return null;
    }
    c.caughtUp = false;
    const records: SourceRecord[] = new Array<SourceRecord>(r.records.length);
    for (let j = 0; j < r.records.length; j++) {
      const x = r.records[j]!;
      records[j] = { key: x.key, value: x.value, timestamp: x.timestamp, headers: x.headers };
    }
    c.position = r.nextOffset;
    const turn = (this.#cursors.indexOf(c) + 1) % this.#cursors.length;
    return { records, origin: topicOrigin(c), position: first.offset, topicPartition: { topic: c.topic, partition: c.partition }, checkpoint: this.#checkpointAt(turn) };
  }

  /** Whether the last read of the partition found nothing new (or it is past its bounded end). */
  caughtUp(origin: string): boolean {
    const c = this.#cursors.find((x) => topicOrigin(x) === origin);
    return c === undefined || c.caughtUp || (this.#untilEnd && c.position >= c.end);
  }

  /** Partitions with something to deliver (bounded: those not already at their end). */
  origins(): string[] {
    return this.#cursors.filter((c) => !this.#untilEnd || c.position < c.end).map(topicOrigin);
  }

  /** Where the source stands now: before the first batch, this is where it resumes. */
  checkpoint(): SourceCheckpoint {
    return this.#checkpointAt(this.#turn);
  }

  #checkpointAt(turn: number): SourceCheckpoint {
    return { offsets: { group: this.#groupName, offsets: this.#positions() }, state: { turn } };
  }

  /**
   * Used only by a runtime that ignores batch checkpoints; a job commits the
   * checkpoint of the last batch it processed instead (a batch fetched ahead
   * is not done yet).
   */
  async commit(): Promise<void> {
    const log = this.#log;
    if (log && this.#cursors.length > 0) await log.commitOffsets(this.#groupName, this.#positions());
  }

  async close(): Promise<void> {
    this.#log = null;
  }

  #positions(): TopicPartitionOffset[] {
    return this.#cursors.map((c) => ({ topic: c.topic, partition: c.partition, offset: c.position }));
  }

  #logOrThrow(): Log {
    if (this.#log === null) throw new SluiceError('CLOSED', `${this.name}: next() before open() or after close()`);
    return this.#log;
  }
}

export function topicSource(options: TopicSourceOptions): TopicSource {
  const o = checkObject('topicSource', options);
  const raw = o.topic;
  const topics = Array.isArray(raw) ? raw : [raw];
  if (topics.length === 0) throw invalid('topicSource', '`topic` must name at least one topic');
  for (const t of topics) checkString('topicSource', 'topic', t);
  const group = o.group === undefined ? undefined : checkString('topicSource', 'group', o.group);
  const from = checkOneOf('topicSource', 'from', o.from, ['beginning', 'end'], 'beginning');
  return new TopicSource(topics as string[], group, from);
}
