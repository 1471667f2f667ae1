// Writing a job's outputs to a topic. At-least-once: through a
// BatchingProducer, one batch filling while the previous is appended, write()
// waiting when both are busy. Exactly-once: records are partitioned and held
// until the checkpoint, which appends them in its transaction
// (takeTransactional), so no output is visible before its inputs' offsets and
// the state that produced it are committed with it.

import { SluiceError } from '../errors.ts';
import type { TransactionWrite } from '../log/log.ts';
import { BatchingProducer, Producer, type SendRecord } from '../log/producer.ts';
import { Partitioner } from '../partitioner.ts';
import type { ProducerRecord } from '../record.ts';
import type { Sink, SinkContext, SinkRecord } from '../dataflow/io.ts';
import { checkFunction, checkInt, checkObject, checkString } from './options.ts';

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
  /** Exactly-once: records per partition, held for the checkpoint's transaction. */
  #held: Map<number, ProducerRecord[]> | null = null;
  #heldCount = 0;
  #partitions = 0;
  readonly #partitioner = new Partitioner();

  constructor(topic: string, partition: ((record: SinkRecord) => number) | undefined, maxRecords: number, maxBytes: number) {
    this.topic = topic;
    this.name = `topic ${topic}`;
    this.#partition = partition;
    this.#maxRecords = maxRecords;
    this.#maxBytes = maxBytes;
  }

  async open(ctx: SinkContext): Promise<void> {
    // Fails with UNKNOWN_TOPIC now rather than at the first checkpoint.
    const info = await ctx.log.getTopic(this.topic);
    if (ctx.guarantee === 'exactly-once') {
      this.#held = new Map();
      this.#partitions = info.config.partitions;
      return;
    }
    this.#batcher = new BatchingProducer(new Producer(ctx.log), this.topic, { maxRecords: this.#maxRecords, maxBytes: this.#maxBytes });
  }

  async write(records: SinkRecord[]): Promise<void> {
    if (this.#held) return this.#hold(records);
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

  #hold(records: SinkRecord[]): void {
    const held = this.#held!;
    for (const r of records) {
      const p = this.#partition ? this.#partition(r) : this.#partitioner.partition(r.key, this.#partitions);
      if (!Number.isInteger(p) || p < 0 || p >= this.#partitions) {
        throw new SluiceError('INVALID_ARGUMENT', `${this.name}: the partition function returned ${p}; the topic has partitions 0..${this.#partitions - 1}`);
      }
      let list = held.get(p);
      if (!list) held.set(p, (list = []));
      // The record itself, not a copy: a SinkRecord is a ProducerRecord, and the job hands each one over once
      // (fresh from the engine or the dead letters, never touched again), so holding it costs no object per output.
      list.push(r);
    }
    this.#heldCount += records.length;
  }

  /** The records held since the last checkpoint, one write per partition, in partition order. */
  async takeTransactional(): Promise<TransactionWrite[]> {
    const held = this.#held;
    if (!held) return [];
    const writes = [...held.entries()].sort((a, b) => a[0] - b[0]).map(([partition, records]) => ({ topic: this.topic, partition, records }));
    held.clear();
    this.#heldCount = 0;
    return writes;
  }

  flush(): Promise<void> {
    if (this.#held) return Promise.resolve(); // delivered by the checkpoint's transaction
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
    return this.#held ? this.#heldCount : (this.#batcher?.buffered ?? 0);
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
