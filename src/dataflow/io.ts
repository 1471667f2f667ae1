// Sources and sinks: how records enter and leave a running job. Both are
// pull/await based so that backpressure is the default: the runtime asks a
// source for the next batch only when the pipeline has room, and awaits each
// sink write before pulling more. A source that cannot be pulled (a socket)
// must stop reading from its transport while its bounded buffer is full.
//
// Checkpoint points (at-least-once now; transactional in the exactly-once
// runtime): the runtime calls `flush()` on every sink, then `commit()` on every
// source. A source's commit means "everything I delivered before this call is
// fully processed and its outputs are flushed".

import type { Headers } from '../record.ts';
import type { Log, TopicPartition, TopicPartitionOffset, TransactionWrite } from '../log/log.ts';

/**
 * exactly-once: outputs to topics, input offsets and state changes commit in one
 * transaction per checkpoint. at-least-once: outputs are flushed, then offsets
 * and state committed (a crash repeats work since the last checkpoint). none:
 * offsets are committed without waiting for outputs, state is not saved.
 */
export type Guarantee = 'exactly-once' | 'at-least-once' | 'none';

/** What a source contributes to a checkpoint. */
export interface SourceCheckpoint {
  /** Group offsets of everything delivered so far (committed in the checkpoint's transaction). */
  offsets?: { group: string; offsets: TopicPartitionOffset[] };
  /** Anything else the source needs to resume exactly where it was (JSON), given back to restore(). */
  state?: unknown;
}

export interface SourceRecord {
  key: Uint8Array | null;
  value: Uint8Array | null;
  /** Event time in ms (the log record's timestamp; arrival time for sockets and files). */
  timestamp: number;
  headers: Headers;
}

export interface SourceBatch {
  records: SourceRecord[];
  /** Which input the batch came from, e.g. "topic:orders/3", "tcp:127.0.0.1:7010#2", "file:in.jsonl", "stdin". */
  origin: string;
  /** Position in `origin` of the first record (topic offset, line number, frame number): for error reports and dead letters. */
  position: number;
  /**
   * Sources that read a topic: the partition the batch came from, as a value
   * (`origin` is its name, for the event clock and dead letters; it is not
   * meant to be parsed back).
   */
  topicPartition?: TopicPartition;
  /**
   * Checkpointing sources: where the source stands right after this batch. The
   * runtime commits the one of the last batch it has *processed* — a batch
   * fetched ahead but not processed yet must not be counted as done.
   */
  checkpoint?: SourceCheckpoint;
}

export interface SourceContext {
  log: Log;
  /** The job's name: the identity of its consumer group, dead-letter topic and (later) state. */
  job: string;
  /**
   * Bounded mode: deliver what exists when the job starts, then end (next() returns null).
   * Topics: the end offsets at open; files and stdin: end of file. Sockets ignore it.
   */
  untilEnd: boolean;
  /** Largest batch the runtime wants from one next() call. */
  maxBatchRecords: number;
  guarantee: Guarantee;
}

export interface Source {
  /** For messages: "topic orders", "tcp 127.0.0.1:7010". */
  readonly name: string;
  open(ctx: SourceContext): Promise<void>;
  /** The next batch; waits until one is available. null: the source has ended. Resolves null promptly when `signal` aborts. */
  next(signal: AbortSignal): Promise<SourceBatch | null>;
  /** Everything delivered before this call is processed and its outputs flushed: commit offsets / acknowledge senders. */
  commit(): Promise<void>;
  close(): Promise<void>;
  /**
   * Checkpointing sources: where the source stands before its first batch
   * (after open and restore). Later positions travel with each batch
   * (SourceBatch.checkpoint). Sources without it commit() instead, and are
   * at-least-once even in an exactly-once job.
   */
  checkpoint?(): SourceCheckpoint;
  /** Gives back the `state` of the last committed checkpoint, before the first next(). */
  restore?(state: unknown): void;
  /**
   * The origins (as in SourceBatch.origin) this source will deliver from,
   * known after open: each holds the event-time watermark back until it has
   * data or goes idle. Sources without it hold the watermark only from their
   * first batch on.
   */
  origins?(): string[];
  /**
   * Whether the source's last look at `origin` found nothing more to read.
   * Sources that can tell keep an origin with data waiting from being
   * declared idle (see event-clock.ts); without it, idleness is by time alone.
   */
  caughtUp?(origin: string): boolean;
}

export interface SinkRecord {
  key: Uint8Array | null;
  value: Uint8Array | null;
  timestamp: number;
  headers?: Headers;
}

export interface SinkContext {
  log: Log;
  job: string;
  guarantee: Guarantee;
}

export interface Sink {
  readonly name: string;
  open(ctx: SinkContext): Promise<void>;
  /** Accepts a batch; resolves when the sink has room for more (its buffer is bounded). */
  write(records: SinkRecord[]): Promise<void>;
  /** Resolves when everything written so far is delivered (appended to the log, written to the socket or file). */
  flush(): Promise<void>;
  close(): Promise<void>;
  /**
   * Exactly-once sinks: hands over the records written since the last call, to
   * be appended in the checkpoint's transaction. Sinks without it (files,
   * sockets) are at-least-once even in an exactly-once job.
   */
  takeTransactional?(): Promise<TransactionWrite[]>;
}
