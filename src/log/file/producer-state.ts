// The idempotence window of a partition: per producer, the stamp of its last
// append, so a retry after a lost acknowledgement gets the first append's
// offsets instead of a second copy. A writer rebuilds it on open by scanning
// the active segment; what the closed segments held comes from the snapshot
// `producers` written at every roll (like Kafka's producer snapshots), so a
// retry still finds its batch after the segment rolled and the writer
// restarted, without reading the whole history on open.
//
// The snapshot is derived data: missing, damaged or older than the active
// segment, it is rebuilt by scanning the closed segments it does not cover.

import fs from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '../../util/crc32c.ts';
import type { BatchHeader } from '../batch.ts';
import { replaceFile } from './json-frames.ts';

export interface ProducerLast {
  epoch: number;
  sequence: number;
  count: number;
  baseOffset: number;
  /** When the batch was appended (ms): stamps older than the window are forgotten. */
  appendTime: number;
}

export type ProducerWindow = Map<number, ProducerLast>;

/** A producer silent this long is forgotten (Kafka: producer.id.expiration.ms, 1 day): a retry comes sooner. */
export const PRODUCER_EXPIRY_MS = 7 * 24 * 3600 * 1000;

const FILE = 'producers';
const VERSION = 1;

export function noteBatch(w: ProducerWindow, h: BatchHeader): void {
  if (h.producerId >= 0) w.set(h.producerId, { epoch: h.producerEpoch, sequence: h.baseSequence, count: h.recordCount, baseOffset: h.baseOffset, appendTime: h.appendTime });
}

/** The window as it was below `end` (the first offset it does not cover); null when missing or unreadable. */
export function readProducerSnapshot(partitionDir: string): { end: number; window: ProducerWindow } | null {
  let text: string;
  try {
    text = fs.readFileSync(join(partitionDir, FILE), 'utf8');
  } catch {
    return null;
  }
  const nl = text.indexOf('\n');
  const body = text.slice(nl + 1);
  if (nl < 0 || text.slice(0, nl) !== crc32c(Buffer.from(body)).toString(16)) return null;
  try {
    const o = JSON.parse(body) as { v: number; end: number; producers: [number, number, number, number, number, number][] };
    if (o.v !== VERSION || !Number.isSafeInteger(o.end)) return null;
    const window: ProducerWindow = new Map();
    for (const [id, epoch, sequence, count, baseOffset, appendTime] of o.producers) window.set(id, { epoch, sequence, count, baseOffset, appendTime });
    return { end: o.end, window };
  } catch {
    return null;
  }
}

/** Writes the snapshot whole: a crash leaves the old one or the new one. */
export function writeProducerSnapshot(partitionDir: string, end: number, window: ProducerWindow, now = Date.now()): void {
  const producers: number[][] = [];
  for (const [id, s] of window) if (now - s.appendTime < PRODUCER_EXPIRY_MS) producers.push([id, s.epoch, s.sequence, s.count, s.baseOffset, s.appendTime]);
  const body = JSON.stringify({ v: VERSION, end, producers });
  replaceFile(join(partitionDir, FILE), Buffer.from(`${crc32c(Buffer.from(body)).toString(16)}\n${body}`));
}

/** Forgets the snapshot (a repair that cut records may have cut batches it names). */
export function removeProducerSnapshot(partitionDir: string): void {
  fs.rmSync(join(partitionDir, FILE), { force: true });
}
