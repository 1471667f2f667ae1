// stdin lines in, stdout lines out: the Unix-filter face of a job
// (`producer | sluice run job.ts | consumer`).

import type { Readable, Writable } from 'node:stream';
import { SluiceError } from '../errors.ts';
import type { Sink, SinkContext, SinkRecord } from '../dataflow/io.ts';
import { encodeLines } from './framing.ts';
import { checkInt, checkObject } from './options.ts';
import { LineStreamSource } from './stream-source.ts';

export interface StdinSourceOptions {
  /** Read from this stream instead of process.stdin (embedding, tests). */
  input?: Readable;
  maxLineBytes?: number;
}

class StdinSource extends LineStreamSource {
  readonly name = 'stdin';
  protected readonly origin = 'stdin';
  readonly #input: Readable | undefined;

  constructor(options: StdinSourceOptions) {
    super(options);
    this.#input = options.input;
  }

  protected async openStream(): Promise<Readable> {
    return this.#input ?? process.stdin;
  }
}

/** One record per non-empty line of stdin (value: the line's bytes, no newline); ends at EOF. */
export function stdinSource(options?: StdinSourceOptions): LineStreamSource {
  const o = checkObject('stdinSource', options);
  checkInt('stdinSource', 'maxLineBytes', o.maxLineBytes, 0);
  return new StdinSource(options ?? {});
}

export interface StdoutSinkOptions {
  /** Write to this stream instead of process.stdout (embedding, tests). */
  output?: Writable;
}

/**
 * Writes to a Writable, waiting for 'drain' when it is full so a slow reader
 * slows the job. EPIPE (the reader left) rejects the current or next write with
 * CLOSED, so the runtime stops rather than silently dropping output.
 */
export class WritableSink implements Sink {
  readonly name: string;
  readonly #stream: Writable;
  #error: SluiceError | null = null;
  readonly #waiters = new Set<() => void>();
  readonly #onError = (e: NodeJS.ErrnoException) => {
    this.#error =
      e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED'
        ? new SluiceError('CLOSED', `${this.name}: the reader closed the pipe (${e.code}); output stopped`, { reason: e.code })
        : new SluiceError('IO_ERROR', `${this.name}: write failed: ${e.message}`, { reason: e.code }, { cause: e });
    this.#wake();
  };
  readonly #onDrain = () => this.#wake();

  constructor(name: string, stream: Writable) {
    this.name = name;
    this.#stream = stream;
  }

  async open(_ctx: SinkContext): Promise<void> {
    this.#stream.on('error', this.#onError);
    this.#stream.on('drain', this.#onDrain);
  }

  async write(records: SinkRecord[]): Promise<void> {
    this.#check();
    const buf = encodeLines(records);
    if (buf.length === 0) return;
    if (this.#stream.write(buf)) return;
    while (this.#stream.writableNeedDrain && this.#error === null) await this.#wait();
    this.#check();
  }

  flush(): Promise<void> {
    this.#check();
    // An empty write's callback runs once everything queued before it has been handed to the OS.
    return new Promise((resolve, reject) => {
      this.#stream.write('', (e) => (e ? reject(this.#error ?? e) : resolve()));
    });
  }

  async close(): Promise<void> {
    this.#stream.off('drain', this.#onDrain);
    // Keep a listener: a late EPIPE after close must not become an uncaught exception.
    this.#stream.off('error', this.#onError);
    this.#stream.on('error', () => {});
    this.#wake();
  }

  #check(): void {
    if (this.#error !== null) throw this.#error;
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.add(resolve));
  }

  #wake(): void {
    const ws = [...this.#waiters];
    this.#waiters.clear();
    for (const w of ws) w();
  }
}

/** Each record's value and '\n' (unless it already ends with one) on stdout. */
export function stdoutSink(options?: StdoutSinkOptions): Sink {
  const o = checkObject('stdoutSink', options);
  return new WritableSink('stdout', (o.output as Writable | undefined) ?? process.stdout);
}
