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
import { isSluiceError } from '../../../src/errors.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { batchPositions, segmentFiles, snapshot } from './helpers.ts';

export const C = 'kv';

/**
 * Record i (at offset i): a quarter have a key of their own (kept), the rest one of 20 rewritten
 * keys (mostly removed), so compaction empties some segments and merges several into one.
 */
export function recordAt(i: number): { key: string; value: string } {
  return { key: i % 4 === 0 ? `u${i}` : `k${i % 20}`, value: JSON.stringify({ i, pad: 'p'.repeat(20 + ((i * 31) % 90)) }) };
}

export function logOptions(dataDir: string): { dataDir: string; maintenanceIntervalMs: number } {
  return { dataDir, maintenanceIntervalMs: 1e9 };
}

export interface Compacted {
  dataDir: string;
  dir: string;
  /** Every record acknowledged (and not deleted by the test), by offset; compaction keeps some of them, byte for byte. */
  appended: Map<number, { key: string; value: string }>;
}

/** Appends records `from`..`to`-1 to C, three at a time, each at its own index as offset. */
export async function appendRecords(log: FileLog, from: number, to: number, acked?: (last: number) => void): Promise<void> {
  for (let i = from; i < to; i += 3) {
    const batch = [i, i + 1, i + 2].filter((j) => j < to).map((j) => ({ key: Buffer.from(recordAt(j).key), value: Buffer.from(recordAt(j).value) }));
    const r = await log.append(C, 0, batch);
    assert.equal(r.baseOffset, i);
    acked?.(r.lastOffset);
  }
}

/**
 * Topic C (compacted, 2 KiB segments) with `n` records; with `compact`, compaction ran at each
 * roll and once at the end; without, never (the dir as a crash test's child finds it). Closed.
 */
export async function compactedTopic(t: TestContext, n = 600, compact = true): Promise<Compacted> {
  const dataDir = tmpDir(t, 'sluice-compacted-');
  const log = await openFileLog(logOptions(dataDir));
  try {
    await log.createTopic(C, { partitions: 1, compact: true, file: { segmentBytes: 2048 } });
    if (!compact) (await log.partition(C, 0)).onRoll = null;
    await appendRecords(log, 0, n);
    if (compact) await log.maintain();
  } finally {
    await log.close();
  }
  const dir = join(dataDir, 'topics', C, '0');
  assert.ok(segmentFiles(dir).length >= 5, `several segments: ${segmentFiles(dir).length}`);
  return { dataDir, dir, appended: new Map(Array.from({ length: n }, (_, i) => [i, recordAt(i)])) };
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

/**
 * Each record read is what was appended at its offset (records are a function of their offset, so
 * also an unacknowledged append that survived), and each key's newest record in `appended` is there.
 */
export function assertCompactedView(got: [number, string, string][], appended: Compacted['appended'], ctx: string): void {
  for (const [offset, key, v] of got) assert.deepEqual({ key, value: v }, recordAt(offset), `${ctx}: offset ${offset} as appended`);
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

/** A writer and a reader both refuse the partition, with the same DAMAGED error naming `file` and `loss`; nothing changes. */
export async function assertBothRefuse(dataDir: string, file: string, loss: RegExp): Promise<string> {
  const before = snapshot(dataDir);
  const messages: string[] = [];
  for (const readOnly of [false, true]) {
    const log = await openFileLog({ ...logOptions(dataDir), readOnly });
    try {
      for (const op of [() => log.describeTopic(C), () => log.read(C, 0, 0)]) {
        await assert.rejects(op(), (e: unknown) => {
          assert.ok(isSluiceError(e, 'DAMAGED'), `${readOnly ? 'reader' : 'writer'}: DAMAGED, got ${String(e)}`);
          assert.equal(e.details.file, file);
          assert.match(e.message, loss);
          assert.match(e.message, new RegExp(`${C}/0`));
          assert.match(e.message, /sluice repair --data-dir/);
          messages.push(e.message);
          return true;
        });
      }
      if (!readOnly) await assert.rejects(log.append(C, 0, [{ key: Buffer.from('x'), value: Buffer.from('y') }]), (e: unknown) => isSluiceError(e, 'DAMAGED'));
    } finally {
      await log.close();
    }
  }
  assert.equal(new Set(messages).size, 1, `one message, word for word: ${[...new Set(messages)].join(' | ')}`);
  const after = snapshot(dataDir);
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'no file created or deleted');
  for (const [p, b] of before) assert.ok(after.get(p)!.equals(b), `${p} unchanged`);
  return messages[0]!;
}
