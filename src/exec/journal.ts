// Replay: feeds a fresh program the inputs recorded in its journal partition,
// in the recorded order, passing over the inputs it fails on that were
// skipped. On a terminal, a progress bar once it takes over a second; always
// one line at the end saying how many inputs were replayed (a log file or CI
// output gets no carriage-return bar).

import { ErrorCodes, SluiceError } from '../errors.ts';
import { forEachValue } from '../log/batch.ts';
import type { BatchReadResult, Log } from '../log/log.ts';

const NULL = Buffer.from('null');

export interface ReplayOptions {
  topic: string;
  partition: number;
  fromOffset: number;
  /** Journal records to read (skipped ones included). */
  count: number;
  skipped?: ReadonlySet<number>;
  /** For messages: "job#instance". */
  label: string;
  /** Writes lines to the program; resolves when the pipe has room again. */
  write: (lines: Buffer) => Promise<void>;
  /** Progress lines; none when absent (the search for a poison input replays quietly). */
  progress?: (line: string) => void;
  bar?: boolean;
  /** Stops early (SIGINT/SIGTERM): what was replayed stays consistent, see docs/exec.md. */
  signal?: AbortSignal;
  /** Bytes per journal read (default 1 MiB); tests make it small to cross many reads. */
  readBytes?: number;
  /** Called with each record's offset as it is fed. */
  onRecord?: (offset: number) => void;
}

/**
 * Bytes per journal read. Reads are by bytes, not records (a journal of short
 * inputs and one of long inputs cost the same per byte), and 1 MiB keeps the
 * program's pipe full while the next read is in flight.
 */
const READ_BYTES = 1024 * 1024;

/** Returns the inputs fed (skipped ones not counted). */
export async function replayJournal(log: Log, o: ReplayOptions): Promise<number> {
  const { topic, partition, count } = o;
  if (count <= 0) return 0;
  const started = Date.now();
  let shown = false;
  let lastShown = 0;
  let read = 0;
  let fed = 0;
  let offset = o.fromOffset;
  const start = (await log.endOffsets(topic))[partition]?.startOffset ?? 0;
  if (offset < start) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `${o.label}: the journal ${topic}/${partition} starts at offset ${start}, but a restart needs its records from offset ${offset} on; they were deleted, so the program's state cannot be rebuilt`, { topic, partition, offset, startOffset: start });
  }
  // The journal's batches as stored, values copied out of them: no object per input.
  const fetch = (from: number, wanted: number) => log.readBatches(topic, partition, from, { maxRecords: wanted, maxBytes: o.readBytes ?? READ_BYTES });
  // One read is always in flight while the previous one is written: the program is not left
  // waiting for its next input while the journal is read.
  let next: Promise<BatchReadResult> | null = fetch(offset, count);
  while (read < count) {
    if (o.signal?.aborted) {
      next?.catch(() => {});
      return fed;
    }
    const r = await next!;
    next = null;
    if (r.records === 0) {
      if (r.nextOffset >= r.highWatermark) {
        throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `${o.label}: the journal ${topic}/${partition} holds ${read} of the ${count} committed inputs; it was truncated or deleted, so the program's state cannot be rebuilt`, { topic, partition });
      }
      offset = r.nextOffset;
      next = fetch(offset, count - read);
      continue;
    }
    const lines = joinValues(r.batches, offset, count - read, o);
    read += lines.read;
    // The batches are whole: the next read starts after the last record taken, not at nextOffset.
    offset = lines.read === r.records ? r.nextOffset : lines.lastOffset + 1;
    if (read < count) next = fetch(offset, count - read);
    fed += lines.fed;
    if (lines.fed > 0) await o.write(lines.bytes);
    const now = Date.now();
    if (o.progress && o.bar && now - started > 1000 && now - lastShown >= 200) {
      shown = true;
      lastShown = now;
      o.progress(`\r${o.label}: replaying ${drawBar(read / count)} ${read.toLocaleString('en-US')}/${count.toLocaleString('en-US')} inputs`);
    }
  }
  o.progress?.(`${shown ? '\r' : ''}${o.label}: replayed ${fed.toLocaleString('en-US')} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return fed;
}

interface Joined {
  /** Each value fed, followed by a newline. */
  bytes: Buffer;
  /** Journal records read (skipped ones included), values fed, and the offset of the last record read. */
  read: number;
  fed: number;
  lastOffset: number;
}

/** The values of up to `limit` records from offset `from` on, each followed by a newline, in one buffer (skipped records left out). */
function joinValues(batches: Uint8Array, from: number, limit: number, o: ReplayOptions): Joined {
  const skipped = o.skipped !== undefined && o.skipped.size > 0 ? o.skipped : null;
  let size = 0;
  let fed = 0;
  let lastOffset = -1;
  const read = forEachValue(batches, from, limit, (offset, _start, length) => {
    lastOffset = offset;
    if (skipped?.has(offset)) return;
    size += (length < 0 ? NULL.length : length) + 1;
    fed++;
  });
  const bytes = Buffer.allocUnsafe(size);
  const source = Buffer.from(batches.buffer, batches.byteOffset, batches.byteLength);
  let at = 0;
  forEachValue(batches, from, limit, (offset, start, length) => {
    if (skipped?.has(offset)) return;
    o.onRecord?.(offset);
    if (length < 0) at += NULL.copy(bytes, at);
    else at += source.copy(bytes, at, start, start + length);
    bytes[at++] = 0x0a;
  });
  return { bytes, read, fed, lastOffset };
}

function drawBar(f: number): string {
  const w = 24;
  const n = Math.round(f * w);
  return `[${'#'.repeat(n)}${'.'.repeat(w - n)}] ${(f * 100).toFixed(0).padStart(3)}%`;
}
