// Compacted partitions for the damage suite and the compaction crash tests:
// one with several compacted segments, and the same turned into what releases
// before contiguous compaction left (segment-continuity.ts).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { openFileLog, type FileLog } from '../../../src/log/file/file-log.ts';
import { indexPath, timeIndexPath } from '../../../src/log/file/segment-index.ts';
import { continuityMarkerPath } from '../../../src/log/file/segment-continuity.ts';
import { isGapBatch, readBatchHeader } from '../../../src/log/batch.ts';
import type { LogRecord } from '../../../src/record.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { batchPositions, segmentFiles } from './helpers.ts';

export const C = 'kv';

/** Half the records have a key of their own (kept), half one of 20 rewritten keys (mostly removed): segments keep about half. */
function value(i: number): Buffer {
  return Buffer.from(JSON.stringify({ i, pad: 'p'.repeat(20 + ((i * 31) % 90)) }));
}

export function keyOf(i: number): string {
  return i % 2 === 0 ? `u${i}` : `k${i % 20}`;
}

export function logOptions(dataDir: string): { dataDir: string; maintenanceIntervalMs: number } {
  return { dataDir, maintenanceIntervalMs: 1e9 };
}

export interface Compacted {
  dataDir: string;
  dir: string;
  /** Every record appended, by offset (compaction keeps some of them, byte for byte). */
  appended: Map<number, { key: string; value: string }>;
}

/** Topic C (compacted, 2 KiB segments): `n` records appended, then `compact` runs of compaction; the log is closed. */
export async function compactedTopic(t: TestContext, n = 600, compact = true): Promise<Compacted> {
  const dataDir = tmpDir(t, 'sluice-compacted-');
  const appended = new Map<number, { key: string; value: string }>();
  const log = await openFileLog(logOptions(dataDir));
  try {
    await log.createTopic(C, { partitions: 1, compact: true, file: { segmentBytes: 2048 } });
    for (let i = 0; i < n; i += 3) {
      const batch = [i, i + 1, i + 2].map((j) => ({ key: Buffer.from(keyOf(j)), value: value(j) }));
      const r = await log.append(C, 0, batch);
      batch.forEach((b, k) => appended.set(r.baseOffset + k, { key: b.key.toString(), value: b.value.toString() }));
    }
    if (compact) await log.maintain();
  } finally {
    await log.close();
  }
  const dir = join(dataDir, 'topics', C, '0');
  assert.ok(segmentFiles(dir).length >= 5, `several segments: ${segmentFiles(dir).length}`);
  return { dataDir, dir, appended };
}

export async function readAllRecords(log: FileLog, topic = C): Promise<LogRecord[]> {
  const d = await log.describeTopic(topic);
  const out: LogRecord[] = [];
  for (let offset = d.partitions[0]!.startOffset; offset < d.partitions[0]!.endOffset; ) {
    const r = await log.read(topic, 0, offset, { maxRecords: 1000 });
    out.push(...r.records);
    assert.ok(r.nextOffset > offset, `progress at ${offset}`);
    offset = r.nextOffset;
  }
  return out;
}

/** What a reader, then a writer, reads: [offset, key, value] each. */
export async function contents(dataDir: string, readOnly: boolean): Promise<[number, string, string][]> {
  const log = await openFileLog({ ...logOptions(dataDir), readOnly });
  try {
    return (await readAllRecords(log)).map((r) => [r.offset, Buffer.from(r.key!).toString(), Buffer.from(r.value!).toString()]);
  } finally {
    await log.close();
  }
}

/** Each record read is what was appended at its offset, and each key's newest record is there. */
export function assertCompactedView(got: [number, string, string][], appended: Compacted['appended'], ctx: string): void {
  for (const [offset, key, v] of got) assert.deepEqual({ key, value: v }, appended.get(offset), `${ctx}: offset ${offset} as appended`);
  const newest = new Map<string, number>();
  for (const [offset, r] of appended) newest.set(r.key, Math.max(offset, newest.get(r.key) ?? -1));
  const seen = new Set(got.map(([o]) => o));
  for (const [key, offset] of newest) assert.ok(seen.has(offset), `${ctx}: ${key}'s newest record (${offset}) is there`);
}

export function deleteSegment(path: string): void {
  for (const f of [path, indexPath(path), timeIndexPath(path)]) fs.rmSync(f, { force: true });
}

/** Where each closed segment's batches end, as offsets: the next segment's base when contiguous. */
export function segmentEnds(dir: string): { base: number; end: number; path: string }[] {
  return segmentFiles(dir).map((path) => {
    const buf = fs.readFileSync(path);
    const last = batchPositions(path).at(-1);
    const base = Number(path.slice(-24, -4));
    if (last === undefined) return { base, end: base, path };
    const h = readBatchHeader(buf, last, buf.length);
    assert.ok(typeof h !== 'string', `${path}: whole last batch`);
    return { base, end: h.baseOffset + h.lastOffsetDelta + 1, path };
  });
}

export function assertContiguous(dir: string, ctx: string): void {
  const ends = segmentEnds(dir);
  for (let i = 0; i + 1 < ends.length; i++) assert.equal(ends[i]!.end, ends[i + 1]!.base, `${ctx}: ${ends[i]!.path} ends where the next segment begins`);
  assert.ok(fs.existsSync(continuityMarkerPath(dir)), `${ctx}: the partition says its segments are contiguous`);
}

/**
 * Turns the partition into what compaction before contiguous segments left: rewritten segments
 * ended at their last kept record (no trailing gap batch), a segment compaction emptied was
 * deleted (here the one after `emptied`, its records taken out of `appended`), and there was no
 * marker. The indexes of rewritten segments were written for the new size (here: rebuilt on open).
 */
export function toOlderFormat(c: Compacted, emptied = 2): void {
  const segs = segmentFiles(c.dir);
  let stripped = 0;
  for (const path of segs.slice(0, -1)) {
    const buf = fs.readFileSync(path);
    const last = batchPositions(path).at(-1)!;
    const h = readBatchHeader(buf, last, buf.length);
    if (typeof h !== 'string' && isGapBatch(h)) {
      fs.truncateSync(path, last);
      for (const f of [indexPath(path), timeIndexPath(path)]) fs.rmSync(f, { force: true });
      stripped++;
    }
  }
  assert.ok(stripped > 0, 'compaction had left trailing gaps to strip');
  const gone = segs[emptied]!;
  const from = Number(gone.slice(-24, -4));
  const to = Number(segs[emptied + 1]!.slice(-24, -4));
  deleteSegment(gone);
  for (const o of [...c.appended.keys()]) if (o >= from && o < to) c.appended.delete(o);
  fs.rmSync(continuityMarkerPath(c.dir));
}
