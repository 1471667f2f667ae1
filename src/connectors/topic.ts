// Topics in and out, over the Consumer and BatchingProducer, so a job runs on
// any Log (embedded, broker, JetStream) unchanged.
//
// The source joins the consumer group named after the job (or `group`), and
// hands out batches from one partition at a time so per-partition order
// survives into the pipeline. A poll may return several partitions; the runs
// not yet handed out wait in a queue, and commit() must not cover them (see
// #commitDelivered).

import { SluiceError } from '../errors.ts';
import { Consumer, type ConsumerRecord } from '../log/consumer.ts';
import type { Log, TopicPartitionOffset } from '../log/log.ts';
import { BatchingProducer, Producer, type SendRecord } from '../log/producer.ts';
import type { Sink, SinkContext, SinkRecord, Source, SourceBatch, SourceContext, SourceRecord } from './connector.ts';
import { checkFunction, checkInt, checkObject, checkOneOf, checkString, invalid } from './options.ts';

export interface TopicSourceOptions {
  topic: string | string[];
  /** Consumer group whose offsets are read and committed. Default: the job's name. */
  group?: string;
  /** Where a partition starts when the group has no committed offset for it. Default 'beginning'. */
  from?: 'beginning' | 'end';
}

interface QueuedRun {
  topic: string;
  partition: number;
  batch: SourceBatch;
  /** Offset of the run's first record: the group's position if the run is still queued at commit time. */
  firstOffset: number;
}

export class TopicSource implements Source {
  readonly name: string;
  readonly #topics: string[];
  readonly #group: string | undefined;
  readonly #from: 'beginning' | 'end';
  #consumer: Consumer | null = null;
  #log: Log | null = null;
  #groupName = '';
  #queue: QueuedRun[] = [];

  constructor(topics: string[], group: string | undefined, from: 'beginning' | 'end') {
    this.#topics = topics;
    this.#group = group;
    this.#from = from;
    this.name = `topic ${topics.join(',')}`;
  }

  async open(ctx: SourceContext): Promise<void> {
    this.#log = ctx.log;
    this.#groupName = this.#group ?? ctx.job;
    this.#consumer = await Consumer.open(ctx.log, {
      topics: this.#topics,
      group: this.#groupName,
      from: this.#from,
      maxRecords: Math.max(1, ctx.maxBatchRecords),
      stopAtEnd: ctx.untilEnd,
    });
  }

  async next(signal: AbortSignal): Promise<SourceBatch | null> {
    const c = this.#consumerOrThrow();
    for (;;) {
      const run = this.#takeQueued(c);
      if (run !== null) return run;
      if (signal.aborted) return null;
      const records = await c.poll({ signal });
      if (records.length === 0) {
        // poll returns [] on abort, on close, and (untilEnd) when every partition reached its end.
        if (signal.aborted || c.done || this.#consumer === null) return null;
        continue;
      }
      this.#enqueue(records);
    }
  }

  /** Commits the group's offsets up to (not including) the first record not yet handed out, per partition. */
  async commit(): Promise<void> {
    const c = this.#consumer;
    if (c === null) return;
    if (this.#queue.length === 0) return c.commit();
    return this.#commitDelivered(c);
  }

  async close(): Promise<void> {
    const c = this.#consumer;
    this.#consumer = null;
    this.#queue = [];
    await c?.close();
  }

  /** Records polled but not yet handed out (tests, metrics). */
  get queued(): number {
    let n = 0;
    for (const r of this.#queue) n += r.batch.records.length;
    return n;
  }

  #enqueue(records: ConsumerRecord[]): void {
    // A poll returns each partition's records as one contiguous, ordered run.
    let start = 0;
    for (let i = 1; i <= records.length; i++) {
      const a = records[start]!;
      const b = records[i];
      if (b !== undefined && b.topic === a.topic && b.partition === a.partition) continue;
      const out: SourceRecord[] = new Array<SourceRecord>(i - start);
      for (let j = start; j < i; j++) {
        const r = records[j]!;
        out[j - start] = { key: r.key, value: r.value, timestamp: r.timestamp, headers: r.headers };
      }
      this.#queue.push({
        topic: a.topic,
        partition: a.partition,
        firstOffset: a.offset,
        batch: { records: out, origin: `topic:${a.topic}/${a.partition}`, position: a.offset },
      });
      start = i;
    }
  }

  #takeQueued(c: Consumer): SourceBatch | null {
    while (this.#queue.length > 0) {
      const run = this.#queue.shift()!;
      // A rebalance may have moved the partition while the run waited: its new owner reads it.
      if (c.assignment().some((tp) => tp.topic === run.topic && tp.partition === run.partition)) return run.batch;
    }
    return null;
  }

  // The Consumer commits everything it polled; with runs still queued that
  // would cover records the runtime never saw. So commit per partition the
  // first queued offset, or the consumer's position where nothing is queued.
  // This goes through Log.commitOffsets, which does not check the member's
  // generation; the positions are limited to partitions assigned right now.
  async #commitDelivered(c: Consumer): Promise<void> {
    const firstQueued = new Map<string, number>();
    for (const r of this.#queue) {
      const k = `${r.topic}\u0000${r.partition}`;
      if (!firstQueued.has(k)) firstQueued.set(k, r.firstOffset);
    }
    const offsets: TopicPartitionOffset[] = c.positions().map((p) => ({ ...p, offset: firstQueued.get(`${p.topic}\u0000${p.partition}`) ?? p.offset }));
    if (offsets.length > 0) await this.#log!.commitOffsets(this.#groupName, offsets);
  }

  #consumerOrThrow(): Consumer {
    if (this.#consumer === null) throw new SluiceError('CLOSED', `${this.name}: next() before open() or after close()`);
    return this.#consumer;
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

export interface TopicSinkOptions {
  topic: string;
  /** Chooses the partition of each record; default: Kafka's murmur2 of the key, round-robin for null keys. */
  partition?: (record: SinkRecord) => number;
  /**
   * Records buffered before write() waits for the log. Default 16,384: large
   * appends share one fsync, and the job processes the next batch while one
   * is being appended.
   */
  maxBufferedRecords?: number;
  /** Bytes (keys + values) buffered before write() waits for the log. Default 1 MiB. */
  maxBufferedBytes?: number;
}

/**
 * Appends through a BatchingProducer: one batch fills while the previous one is
 * being appended, and write() waits when the filling one is full, so at most
 * twice the bound is ever held. A failed append rejects the next write() or flush().
 */
export class TopicSink implements Sink {
  readonly name: string;
  readonly topic: string;
  readonly #partition: ((record: SinkRecord) => number) | undefined;
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  #batcher: BatchingProducer | null = null;

  constructor(topic: string, partition: ((record: SinkRecord) => number) | undefined, maxRecords: number, maxBytes: number) {
    this.topic = topic;
    this.name = `topic ${topic}`;
    this.#partition = partition;
    this.#maxRecords = maxRecords;
    this.#maxBytes = maxBytes;
  }

  async open(ctx: SinkContext): Promise<void> {
    // Fails with UNKNOWN_TOPIC now rather than at the first checkpoint.
    await ctx.log.getTopic(this.topic);
    this.#batcher = new BatchingProducer(new Producer(ctx.log), this.topic, { maxRecords: this.#maxRecords, maxBytes: this.#maxBytes });
  }

  async write(records: SinkRecord[]): Promise<void> {
    const b = this.#batcherOrThrow();
    const pick = this.#partition;
    for (const r of records) {
      const s: SendRecord = { key: r.key, value: r.value, timestamp: r.timestamp };
      if (r.headers !== undefined) s.headers = r.headers;
      if (pick !== undefined) s.partition = pick(r);
      const wait = b.add(s);
      if (wait !== null) await wait;
    }
  }

  flush(): Promise<void> {
    return this.#batcherOrThrow().flush();
  }

  /** Flushes what is buffered (an append error rejects close too). */
  async close(): Promise<void> {
    const b = this.#batcher;
    this.#batcher = null;
    await b?.flush();
  }

  /** Records accepted by write() and not yet handed to the log. */
  get buffered(): number {
    return this.#batcher?.buffered ?? 0;
  }

  #batcherOrThrow(): BatchingProducer {
    if (this.#batcher === null) throw new SluiceError('CLOSED', `${this.name}: write() before open() or after close()`);
    return this.#batcher;
  }
}

export function topicSink(options: TopicSinkOptions): TopicSink {
  const o = checkObject('topicSink', options);
  const topic = checkString('topicSink', 'topic', o.topic);
  const partition = checkFunction<(record: SinkRecord) => number>('topicSink', 'partition', o.partition);
  const maxRecords = checkInt('topicSink', 'maxBufferedRecords', o.maxBufferedRecords, 16_384);
  const maxBytes = checkInt('topicSink', 'maxBufferedBytes', o.maxBufferedBytes, 4 * 1024 * 1024);
  return new TopicSink(topic, partition, maxRecords, maxBytes);
}
