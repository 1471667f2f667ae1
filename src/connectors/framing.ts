// Byte streams → records: newline-delimited lines and 4-byte big-endian
// length-prefixed frames. Both keep the partial frame as a list of chunks and
// join them once it is complete, so a frame that arrives one byte per TCP
// segment costs O(size), not O(size²). Complete frames inside one chunk are
// zero-copy subarrays of it.
//
// Also the queue every push-based source (TCP, HTTP, files, stdin) hands out
// batches from, and the line encoder the text sinks share.

import { SluiceError } from '../errors.ts';
import { EMPTY_HEADERS } from '../record.ts';
import type { SinkRecord, SourceBatch, SourceRecord } from '../dataflow/io.ts';

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
const NL = 0x0a;
const CR = 0x0d;

/** Receives each decoded frame with its 1-based number in the stream. */
export type FrameSink = (payload: Buffer, n: number) => void;

export interface Decoder {
  /** Decodes what `chunk` completes; throws TOO_LARGE when a frame exceeds the limit. */
  push(chunk: Buffer, emit: FrameSink): void;
  /** Bytes of an incomplete frame held back (non-zero at end of stream means a truncated frame). */
  readonly partialBytes: number;
  /** Emits a final line that had no newline (lines only). */
  end(emit: FrameSink): void;
}

class Chunks {
  list: Buffer[] = [];
  bytes = 0;

  add(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.list.push(chunk);
    this.bytes += chunk.length;
  }

  /** Removes and returns the first `n` bytes. */
  take(n: number): Buffer {
    const first = this.list[0];
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.list.shift();
      else this.list[0] = first.subarray(n);
      this.bytes -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.list[0]!;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.list.shift();
      else this.list[0] = c.subarray(k);
    }
    this.bytes -= n;
    return out;
  }
}

export class LengthPrefixedDecoder implements Decoder {
  readonly #max: number;
  readonly #chunks = new Chunks();
  /** Payload length of the frame being assembled; -1 while its header is incomplete. */
  #need = -1;
  #n = 0;

  constructor(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.#max = maxFrameBytes;
  }

  get partialBytes(): number {
    return this.#chunks.bytes;
  }

  push(chunk: Buffer, emit: FrameSink): void {
    const c = this.#chunks;
    c.add(chunk);
    for (;;) {
      if (this.#need < 0) {
        if (c.bytes < 4) return;
        const len = c.take(4).readUInt32BE(0);
        if (len > this.#max) {
          throw new SluiceError('TOO_LARGE', `frame ${this.#n + 1} declares ${len} bytes, over the limit of ${this.#max} (maxFrameBytes)`, { frame: this.#n + 1, bytes: len });
        }
        this.#need = len;
      }
      if (c.bytes < this.#need) return;
      const payload = this.#need === 0 ? Buffer.alloc(0) : c.take(this.#need);
      this.#need = -1;
      emit(payload, ++this.#n);
    }
  }

  end(): void {}
}

/** Lines end at '\n'; a '\r' before it is dropped (CRLF input). Line numbers count every line, empty ones too. */
export class LineDecoder implements Decoder {
  readonly #max: number;
  readonly #chunks = new Chunks();
  #n = 0;

  constructor(maxLineBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.#max = maxLineBytes;
  }

  get partialBytes(): number {
    return this.#chunks.bytes;
  }

  push(chunk: Buffer, emit: FrameSink): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, from);
      if (nl < 0) break;
      let line: Buffer;
      if (this.#chunks.bytes === 0) {
        line = chunk.subarray(from, nl);
      } else {
        this.#chunks.add(chunk.subarray(from, nl));
        line = this.#chunks.take(this.#chunks.bytes);
      }
      from = nl + 1;
      this.#emit(line, emit);
    }
    if (from < chunk.length) {
      this.#chunks.add(chunk.subarray(from));
      if (this.#chunks.bytes > this.#max) {
        throw new SluiceError('TOO_LARGE', `line ${this.#n + 1} is longer than the limit of ${this.#max} bytes (maxLineBytes)`, { line: this.#n + 1 });
      }
    }
  }

  end(emit: FrameSink): void {
    if (this.#chunks.bytes > 0) this.#emit(this.#chunks.take(this.#chunks.bytes), emit);
  }

  #emit(line: Buffer, emit: FrameSink): void {
    if (line.length > this.#max) {
      throw new SluiceError('TOO_LARGE', `line ${this.#n + 1} is longer than the limit of ${this.#max} bytes (maxLineBytes)`, { line: this.#n + 1 });
    }
    const end = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length;
    emit(end === line.length ? line : line.subarray(0, end), ++this.#n);
  }
}

interface Run {
  origin: string;
  position: number;
  records: SourceRecord[];
  bytes: number;
  /** Caller's tag (the HTTP source's request), carried to whoever takes the run. */
  tag: unknown;
}

/**
 * FIFO of runs of records. Consecutive records from the same origin whose
 * positions follow each other share a run, so a batch's `position + i` is
 * always record i's position (blank lines and skipped frames start a new run).
 */
export class BatchQueue {
  readonly #runs: Run[] = [];
  #head = 0;
  records = 0;
  bytes = 0;

  push(origin: string, position: number, value: Buffer, timestamp: number, tag: unknown = undefined): void {
    const last = this.#runs.length > this.#head ? this.#runs[this.#runs.length - 1]! : undefined;
    const record: SourceRecord = { key: null, value, timestamp, headers: EMPTY_HEADERS };
    if (last !== undefined && last.origin === origin && last.tag === tag && last.position + last.records.length === position) {
      last.records.push(record);
      last.bytes += value.length;
    } else {
      this.#runs.push({ origin, position, records: [record], bytes: value.length, tag });
    }
    this.records++;
    this.bytes += value.length;
  }

  get empty(): boolean {
    return this.records === 0;
  }

  /** Up to `max` records from the oldest run, or null when empty. `tag` is that run's tag. */
  shift(max: number): { batch: SourceBatch; tag: unknown } | null {
    const run = this.#runs[this.#head];
    if (run === undefined) return null;
    let records: SourceRecord[];
    let bytes: number;
    const position = run.position;
    if (run.records.length <= max) {
      records = run.records;
      bytes = run.bytes;
      this.#runs[this.#head++] = undefined as unknown as Run;
      // Compact now and then so the array does not grow without bound.
      if (this.#head > 1024 && this.#head * 2 > this.#runs.length) {
        this.#runs.splice(0, this.#head);
        this.#head = 0;
      }
      if (this.#head === this.#runs.length) {
        this.#runs.length = 0;
        this.#head = 0;
      }
    } else {
      records = run.records.slice(0, max);
      run.records = run.records.slice(max);
      bytes = 0;
      for (const r of records) bytes += r.value!.length;
      run.bytes -= bytes;
      run.position += max;
    }
    this.records -= records.length;
    this.bytes -= bytes;
    return { batch: { records, origin: run.origin, position }, tag: run.tag };
  }
}

/**
 * Values of a batch joined into one buffer, each followed by '\n' unless it
 * already ends with one. Null values (tombstones) have no text form and are skipped.
 */
export function encodeLines(records: readonly SinkRecord[]): Buffer {
  let size = 0;
  for (const r of records) {
    const v = r.value;
    if (v === null) continue;
    size += v.length + (v.length > 0 && v[v.length - 1] === NL ? 0 : 1);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const r of records) {
    const v = r.value;
    if (v === null) continue;
    out.set(v, at);
    at += v.length;
    if (!(v.length > 0 && v[v.length - 1] === NL)) out[at++] = NL;
  }
  return out;
}

/** Each non-null value as a 4-byte big-endian length and the bytes. */
export function encodeFrames(records: readonly SinkRecord[]): Buffer {
  let size = 0;
  for (const r of records) if (r.value !== null) size += 4 + r.value.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const r of records) {
    const v = r.value;
    if (v === null) continue;
    out.writeUInt32BE(v.length, at);
    out.set(v, at + 4);
    at += 4 + v.length;
  }
  return out;
}

/** Values concatenated as they are (the encoder already added any separators). */
export function encodeRaw(records: readonly SinkRecord[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const r of records) if (r.value !== null) parts.push(r.value);
  return Buffer.concat(parts);
}

/** Resolves when `signal` aborts; `off()` releases the listener. */
export function abortPromise(signal: AbortSignal): { promise: Promise<void>; off: () => void } {
  let off = () => {};
  const promise = new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const on = () => resolve();
    signal.addEventListener('abort', on, { once: true });
    off = () => signal.removeEventListener('abort', on);
  });
  return { promise, off };
}
