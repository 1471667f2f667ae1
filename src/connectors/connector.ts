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
import type { Log } from '../log/log.ts';

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
}

export interface Sink {
  readonly name: string;
  open(ctx: SinkContext): Promise<void>;
  /** Accepts a batch; resolves when the sink has room for more (its buffer is bounded). */
  write(records: SinkRecord[]): Promise<void>;
  /** Resolves when everything written so far is delivered (appended to the log, written to the socket or file). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
