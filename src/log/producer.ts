// The producer: turns records addressed to a topic into per-partition appends.
// Partition choice is explicit partition > key hash (Kafka's murmur2) >
// round-robin, so the same key always lands on the same partition.
//
// `send` issues one append per partition, all in parallel, so a batch spread
// over N partitions costs one round of group commit, not N.

import { SluiceError, isSluiceError, where } from '../errors.ts';
import { Partitioner } from '../partitioner.ts';
import { timestampError, type Headers, type ProducerRecord } from '../record.ts';
import type { Log } from './log.ts';
import { BATCH_HEADER_SIZE, MAX_BATCH_BYTES, recordSize } from './batch.ts';

export interface SendRecord {
  key?: Uint8Array | null;
  value: Uint8Array | null;
  /** Event time in ms; the log's append time when omitted. */
  timestamp?: number;
  headers?: Headers;
  /** Bypasses the partitioner. */
  partition?: number;
}

export interface RecordMetadata {
  partition: number;
  offset: number;
}

export interface ProducerOptions {
  partitioner?: Partitioner;
}

export class Producer {
  readonly log: Log;
  readonly #partitioner: Partitioner;
  // A topic's partition count never changes, so one lookup per topic is enough;
  // the entry is dropped if the topic disappears (deleted and maybe recreated).
  readonly #partitions = new Map<string, number>();

  constructor(log: Log, options: ProducerOptions = {}) {
    this.log = log;
    // A random start spreads null-key records from many short-lived producers (CLI runs).
    this.#partitioner = options.partitioner ?? new Partitioner(Math.floor(Math.random() * 1024));
  }

  async partitionCount(topic: string): Promise<number> {
    let n = this.#partitions.get(topic);
    if (n === undefined) {
      n = (await this.log.getTopic(topic)).config.partitions;
      this.#partitions.set(topic, n);
    }
    return n;
  }

  /**
   * Appends the records, each to its partition, and returns where each landed
   * (in input order). Records for one partition keep their relative order.
   * All partitions are validated before anything is written; if an append then
   * fails, other partitions' appends may have succeeded (the error says which failed).
   */
  async send(topic: string, records: readonly SendRecord[]): Promise<RecordMetadata[]> {
    if (records.length === 0) return [];
    // Before any partition is appended to: one bad record must not leave the others half sent.
    const badTime = timestampError(records, `topic ${topic}`);
    if (badTime) throw badTime;
    const n = await this.partitionCount(topic);
    const chosen = new Array<number>(records.length);
    const groups = new Map<number, ProducerRecord[]>();
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const key = r.key ?? null;
      let p: number;
      if (r.partition !== undefined) {
        if (!Number.isInteger(r.partition) || r.partition < 0 || r.partition >= n) {
          throw new SluiceError(
            'UNKNOWN_PARTITION',
            `partition ${r.partition} does not exist in topic ${topic} (it has ${n}: 0..${n - 1})`,
            { topic, partition: r.partition },
          );
        }
        p = r.partition;
      } else {
        p = this.#partitioner.partition(key, n);
      }
      chosen[i] = p;
      let g = groups.get(p);
      if (g === undefined) groups.set(p, (g = []));
      const pr: ProducerRecord = { key, value: r.value };
      if (r.timestamp !== undefined) pr.timestamp = r.timestamp;
      if (r.headers !== undefined) pr.headers = r.headers;
      g.push(pr);
    }

    const base = new Map<number, number>();
    const entries = [...groups];
    const settled = await Promise.allSettled(entries.map(([p, recs]) => this.log.append(topic, p, recs)));
    let failure: unknown;
    for (let j = 0; j < entries.length; j++) {
      const s = settled[j]!;
      const [p, recs] = entries[j]!;
      if (s.status === 'rejected') {
        failure ??= s.reason;
        continue;
      }
      // Offsets inside one appended batch are dense; a mismatch means the log broke its contract.
      if (s.value.lastOffset - s.value.baseOffset + 1 !== recs.length) {
        failure ??= new SluiceError('IO_ERROR', `append to ${where(topic, p)} returned offsets ${s.value.baseOffset}..${s.value.lastOffset} for ${recs.length} records`);
      }
      base.set(p, s.value.baseOffset);
    }
    if (failure !== undefined) {
      if (isSluiceError(failure, 'UNKNOWN_TOPIC')) this.#partitions.delete(topic);
      throw failure;
    }

    const next = new Map<number, number>();
    const out = new Array<RecordMetadata>(records.length);
    for (let i = 0; i < records.length; i++) {
      const p = chosen[i]!;
      const k = next.get(p) ?? 0;
      next.set(p, k + 1);
      out[i] = { partition: p, offset: base.get(p)! + k };
    }
    return out;
  }
}

export interface BatcherOptions {
  /** Send when this many records are buffered. Default 1000. */
  maxRecords?: number;
  /** Send when the buffered keys + values reach this many bytes. Default 1 MiB. */
  maxBytes?: number;
}

export interface PartitionSummary {
  partition: number;
  records: number;
  firstOffset: number;
  lastOffset: number;
}

export interface BatcherSummary {
  records: number;
  partitions: PartitionSummary[];
}

/**
 * Accumulates records for one topic and sends them in batches, keeping one send
 * in flight while the next batch fills (so reading input overlaps the fsync).
 * Only one send is ever in flight, which keeps each partition's records in order.
 *
 * `add` returns null when the caller can go on, or a promise to await before
 * adding more (backpressure); that avoids a promise per record on the hot path.
 * After a failed send, `add` and `flush` reject with its error; what was sent
 * before it is acknowledged and reported by `summary()`.
 */
const BATCH_ROOM = MAX_BATCH_BYTES - BATCH_HEADER_SIZE;

export class BatchingProducer {
  readonly topic: string;
  readonly #producer: Producer;
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  #buffer: SendRecord[] = [];
  #bytes = 0;
  #inflight: Promise<void> | null = null;
  #error: unknown = undefined;
  #records = 0;
  readonly #partitions = new Map<number, PartitionSummary>();

  constructor(producer: Producer, topic: string, options: BatcherOptions = {}) {
    this.#producer = producer;
    this.topic = topic;
    this.#maxRecords = options.maxRecords ?? 1000;
    // Counted as encoded (with each record's overhead), so a full buffer fits one batch.
    this.#maxBytes = Math.min(options.maxBytes ?? 1024 * 1024, BATCH_ROOM);
  }

  /** Buffered records not yet handed to the log. */
  get buffered(): number {
    return this.#buffer.length;
  }

  add(record: SendRecord): Promise<void> | null {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    const size = recordSize({ key: record.key ?? null, value: record.value, headers: record.headers });
    // A record that would take the buffer past what one batch may hold starts the next
    // batch: else a big record after small ones made a batch over MAX_BATCH_BYTES, refused whole.
    let wait: Promise<void> | null = this.#buffer.length > 0 && this.#bytes + size > BATCH_ROOM ? this.#cut() : null;
    this.#buffer.push(record);
    this.#bytes += size;
    if (this.#buffer.length >= this.#maxRecords || this.#bytes >= this.#maxBytes) {
      // #cut takes the buffer when it runs: after the first cut, this one holds just `record`.
      wait = wait === null ? this.#cut() : wait.then(() => this.#cut());
    }
    return wait;
  }

  /** Sends everything buffered and waits until all of it is acknowledged. */
  async flush(): Promise<void> {
    await this.#cut();
    await this.#inflight;
    this.#throwIfFailed();
  }

  summary(): BatcherSummary {
    return {
      records: this.#records,
      partitions: [...this.#partitions.values()].sort((a, b) => a.partition - b.partition),
    };
  }

  async #cut(): Promise<void> {
    const batch = this.#buffer;
    this.#buffer = [];
    this.#bytes = 0;
    await this.#inflight;
    this.#throwIfFailed();
    if (batch.length === 0) return;
    // The stored promise never rejects: failures land in #error, so an unawaited
    // in-flight send cannot become an unhandled rejection.
    this.#inflight = this.#producer.send(this.topic, batch).then(
      (meta) => this.#record(meta),
      (e: unknown) => {
        this.#error = e;
      },
    );
  }

  #throwIfFailed(): void {
    if (this.#error !== undefined) throw this.#error;
  }

  #record(meta: RecordMetadata[]): void {
    this.#records += meta.length;
    for (const m of meta) {
      const s = this.#partitions.get(m.partition);
      if (s === undefined) {
        this.#partitions.set(m.partition, { partition: m.partition, records: 1, firstOffset: m.offset, lastOffset: m.offset });
      } else {
        s.records++;
        if (m.offset < s.firstOffset) s.firstOffset = m.offset;
        if (m.offset > s.lastOffset) s.lastOffset = m.offset;
      }
    }
  }
}
