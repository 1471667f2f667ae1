// A bounded source over a Readable byte stream (stdin, a file): one record per
// non-empty line, position = 1-based line number, ends at end of stream.
//
// It pulls one chunk at a time from the stream's async iterator, and only when
// the runtime asks for a batch and none is queued: the stream's own buffering
// then stops reading the fd, so the runtime's pace is the backpressure and
// memory holds at most one chunk's worth of lines.

import type { Readable } from 'node:stream';
import { SluiceError, isSluiceError } from '../errors.ts';
import type { Source, SourceBatch, SourceContext } from '../dataflow/io.ts';
import { BatchQueue, LineDecoder, abortPromise } from './framing.ts';

export interface LineStreamOptions {
  /** Longest line accepted; a longer one fails the source with TOO_LARGE (naming the line). */
  maxLineBytes?: number;
}

export abstract class LineStreamSource implements Source {
  abstract readonly name: string;
  /** The `origin` of every batch: "stdin", "file:PATH". */
  protected abstract readonly origin: string;
  readonly #queue = new BatchQueue();
  readonly #decoder: LineDecoder;
  #iterator: AsyncIterator<Buffer> | null = null;
  /** A chunk read still pending when a next() was aborted: the next call picks it up, so nothing is lost. */
  #pending: Promise<IteratorResult<Buffer>> | null = null;
  #ended = false;
  #maxBatch = 1000;

  constructor(options: LineStreamOptions) {
    this.#decoder = new LineDecoder(options.maxLineBytes);
  }

  /** Opens the stream; errors here (a missing file) fail open() with a clear message. */
  protected abstract openStream(): Promise<Readable>;

  async open(ctx: SourceContext): Promise<void> {
    this.#maxBatch = Math.max(1, ctx.maxBatchRecords);
    const stream = await this.openStream();
    this.#iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async next(signal: AbortSignal): Promise<SourceBatch | null> {
    const it = this.#iterator;
    if (it === null) throw new SluiceError('CLOSED', `${this.name}: next() before open() or after close()`);
    for (;;) {
      const got = this.#queue.shift(this.#maxBatch);
      if (got !== null) return got.batch;
      if (this.#ended || signal.aborted) return null;
      this.#pending ??= it.next();
      const abort = abortPromise(signal);
      let r: IteratorResult<Buffer> | undefined;
      try {
        r = await Promise.race([this.#pending, abort.promise.then(() => undefined)]);
      } catch (e) {
        this.#pending = null;
        throw this.wrapError(e);
      } finally {
        abort.off();
      }
      if (r === undefined) return null;
      this.#pending = null;
      const now = Date.now();
      const emit = (line: Buffer, n: number) => {
        if (line.length > 0) this.#queue.push(this.origin, n, line, now);
      };
      try {
        if (r.done === true) {
          this.#ended = true;
          this.#decoder.end(emit);
        } else {
          this.#decoder.push(typeof r.value === 'string' ? Buffer.from(r.value) : r.value, emit);
        }
      } catch (e) {
        if (isSluiceError(e)) throw new SluiceError(e.code, `${this.name}: ${e.message}`, e.details);
        throw e;
      }
    }
  }

  /** Nothing to acknowledge: a file or pipe is re-read from the start by a restarted job. */
  async commit(): Promise<void> {}

  async close(): Promise<void> {
    const it = this.#iterator;
    this.#iterator = null;
    this.#pending?.catch(() => {});
    // return() destroys the stream, releasing the fd.
    if (it?.return !== undefined) await it.return().catch(() => {});
  }

  protected wrapError(e: unknown): unknown {
    return e;
  }
}
