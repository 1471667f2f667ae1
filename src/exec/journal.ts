// Replay: feeds a fresh program the inputs recorded in its journal partition,
// in the recorded order, passing over the inputs it fails on that were
// skipped. On a terminal, a progress bar once it takes over a second; always
// one line at the end saying how many inputs were replayed (a log file or CI
// output gets no carriage-return bar).

import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Log } from '../log/log.ts';

const NEWLINE = Buffer.from('\n');
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
  /** Called with each record's offset as it is fed. */
  onRecord?: (offset: number, key: Uint8Array | null, value: Uint8Array | null) => void;
}

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
  while (read < count) {
    if (o.signal?.aborted) return fed;
    const r = await log.read(topic, partition, offset, { maxRecords: Math.min(5000, count - read) });
    if (r.records.length === 0) {
      if (r.nextOffset >= r.highWatermark) {
        throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `${o.label}: the journal ${topic}/${partition} holds ${read} of the ${count} committed inputs; it was truncated or deleted, so the program's state cannot be rebuilt`, { topic, partition });
      }
      offset = r.nextOffset;
      continue;
    }
    const records = r.records.slice(0, count - read);
    const parts: Uint8Array[] = [];
    for (const x of records) {
      if (o.skipped?.has(x.offset)) continue;
      o.onRecord?.(x.offset, x.key, x.value);
      parts.push(x.value ?? NULL, NEWLINE);
      fed++;
    }
    read += records.length;
    if (parts.length > 0) await o.write(Buffer.concat(parts));
    offset = r.nextOffset;
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

function drawBar(f: number): string {
  const w = 24;
  const n = Math.round(f * w);
  return `[${'#'.repeat(n)}${'.'.repeat(w - n)}] ${(f * 100).toFixed(0).padStart(3)}%`;
}
