// Replay: feeds a fresh program the inputs recorded in its journal partition,
// in the recorded order. On a terminal, a progress bar once it takes over a
// second; always one line at the end saying how many inputs were replayed (a
// log file or CI output gets no carriage-return bar).

import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Log } from '../log/log.ts';
import type { Instance } from './instance.ts';

const NEWLINE = Buffer.from('\n');
const NULL = Buffer.from('null');

export async function replayJournal(
  log: Log,
  topic: string,
  partition: number,
  fromOffset: number,
  count: number,
  inst: Instance,
  progress: (line: string) => void,
  bar = false,
): Promise<void> {
  if (count <= 0) return;
  const started = Date.now();
  let shown = false;
  let lastShown = 0;
  let fed = 0;
  let offset = fromOffset;
  while (fed < count) {
    const r = await log.read(topic, partition, offset, { maxRecords: Math.min(5000, count - fed) });
    if (r.records.length === 0) {
      if (r.nextOffset >= r.highWatermark) {
        throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `${inst.label}: the journal ${topic}/${partition} holds ${fed} of the ${count} committed inputs; it was truncated or deleted, so the program's state cannot be rebuilt`, { topic, partition });
      }
      offset = r.nextOffset;
      continue;
    }
    const lines = r.records.slice(0, count - fed);
    const parts: Uint8Array[] = [];
    for (const x of lines) parts.push(x.value ?? NULL, NEWLINE);
    await inst.child!.write(Buffer.concat(parts), true);
    fed += lines.length;
    offset = r.nextOffset;
    const now = Date.now();
    if (bar && now - started > 1000 && now - lastShown >= 200) {
      shown = true;
      lastShown = now;
      progress(`\r${inst.label}: replaying ${drawBar(fed / count)} ${fed.toLocaleString('en-US')}/${count.toLocaleString('en-US')} inputs`);
    }
  }
  progress(`${shown ? '\r' : ''}${inst.label}: replayed ${count.toLocaleString('en-US')} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

function drawBar(f: number): string {
  const w = 24;
  const n = Math.round(f * w);
  return `[${'#'.repeat(n)}${'.'.repeat(w - n)}] ${(f * 100).toFixed(0).padStart(3)}%`;
}
