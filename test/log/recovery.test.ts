// Recovery on open, with real files damaged the way crashes and disks damage
// them: a torn tail (an unacknowledged append cut short, or followed by
// garbage) is cut off (truncating acknowledged batches is damage: see
// test/log/damage/);
// a flipped byte in the middle is reported with topic/partition/offset and
// never returned as data, and does not make recovery truncate later data;
// missing, stale or damaged index files are rebuilt; compaction leftovers are
// ignored.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { isSluiceError, type SluiceError } from '../../src/errors.ts';
import type { TopicConfigInput } from '../../src/log/log.ts';
import type { LogRecord } from '../../src/record.ts';
import { encodeBatch } from '../../src/log/batch.ts';
import { prng, sameRecord } from '../helpers/crash-records.ts';
import { assertRecords, batchPositions, flipByte, readRange as readRangeOf, rec } from './damage/helpers.ts';

const T = 'rec';


interface Fixture {
  dataDir: string;
  /** The partition directory. */
  dir: string;
  /** Segment file paths, oldest first. */
  segments(): string[];
}

function tmpDir(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(join(os.tmpdir(), 'sluice-recovery-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Creates topic T (1 partition) and appends `batches` batches of `perBatch` records each; closes the log. */
async function fixture(t: { after(fn: () => void): void }, batches: number, perBatch: number, config: TopicConfigInput = {}): Promise<Fixture> {
  const dataDir = tmpDir(t);
  const log = await openFileLog({ dataDir });
  await log.createTopic(T, { partitions: 1, ...config });
  for (let b = 0; b < batches; b++) {
    const res = await log.append(T, 0, Array.from({ length: perBatch }, (_, j) => rec(b * perBatch + j)));
    assert.equal(res.baseOffset, b * perBatch);
  }
  await log.close();
  const dir = join(dataDir, 'topics', T, '0');
  return {
    dataDir,
    dir,
    segments: () =>
      fs
        .readdirSync(dir)
        .filter((n) => n.endsWith('.log'))
        .sort()
        .map((n) => join(dir, n)),
  };
}

/** What a crash in the middle of writing the next append leaves: the first `cut` bytes of a batch nobody acknowledged. */
function tornAppend(seg: string, baseOffset: number, count: number, cut: (size: number) => number): void {
  const batch = encodeBatch(Array.from({ length: count }, (_, k) => rec(baseOffset + k)), { baseOffset, appendTime: Date.now() });
  fs.appendFileSync(seg, batch.subarray(0, cut(batch.length)));
}

// Pages of 50, so reads cross batch and segment boundaries often.
const readRange = (log: FileLog, from: number, to: number): Promise<LogRecord[]> => readRangeOf(log, from, to, T, 50);

function isCorruptAt(offset: number, partition = 0) {
  return (e: unknown) => {
    assert.ok(isSluiceError(e, 'CORRUPT_RECORD'), `expected CORRUPT_RECORD, got ${String(e)}`);
    const d = (e as SluiceError).details;
    assert.equal(d.topic, T);
    assert.equal(d.partition, partition);
    assert.equal(d.offset, offset);
    assert.match((e as Error).message, new RegExp(`${T}/${partition}@${offset}\\b`));
    return true;
  };
}

/**
 * Reads on from `from` (before the damage at offset `bad`) with generous limits: whatever is
 * returned must be intact records before `bad`, and the read that reaches `bad` must fail with
 * CORRUPT_RECORD naming it. (Whether records before the damage come back in the same call that
 * meets it is up to the implementation; today they do, see the sequential-reader test below.)
 */
async function readIntoDamage(log: FileLog, from: number, bad: number): Promise<void> {
  const got: LogRecord[] = [];
  let offset = from;
  for (;;) {
    let r;
    try {
      r = await log.read(T, 0, offset, { maxRecords: 100_000 });
    } catch (e) {
      assert.ok(isCorruptAt(bad)(e));
      break;
    }
    got.push(...r.records);
    assert.ok(r.nextOffset > offset && r.nextOffset <= bad, `read from ${offset} went on to ${r.nextOffset}, past the damage at ${bad}`);
    offset = r.nextOffset;
  }
  assertRecords(got, from, from + got.length, 'before the damage');
}

// ---- torn tails ----------------------------------------------------------------

for (const cut of ['inside the header', 'inside the records', 'one byte short']) {
  test(`torn tail (an unacknowledged append cut ${cut}): the torn batch is gone, earlier records intact, appends continue`, async (t) => {
    const f = await fixture(t, 9, 5);
    const [seg] = f.segments();
    const lastStart = fs.statSync(seg!).size;
    tornAppend(seg!, 45, 5, (size) => (cut === 'inside the header' ? 30 : cut === 'one byte short' ? size - 1 : Math.floor(size / 2)));

    let log = await openFileLog({ dataDir: f.dataDir });
    assert.equal(fs.statSync(seg!).size, lastStart, 'the torn batch is cut off on open');
    assert.equal((await log.describeTopic(T)).partitions[0]!.endOffset, 45);
    assertRecords(await readRange(log, 0, 45), 0, 45);
    const res = await log.append(T, 0, [rec(45), rec(46)]);
    assert.deepEqual(res, { baseOffset: 45, lastOffset: 46 });
    await log.close();

    log = await openFileLog({ dataDir: f.dataDir });
    assertRecords(await readRange(log, 0, 47), 0, 47, 'after a second reopen');
    await log.close();
  });
}

test('torn tail followed by garbage: cut off, and appends continue at the right offset', async (t) => {
  for (const kind of ['random', 'zeros', 'magic-laden']) {
    const f = await fixture(t, 7, 4);
    const [seg] = f.segments();
    const lastStart = fs.statSync(seg!).size;
    tornAppend(seg!, 28, 4, () => 50);
    const rand = prng(kind.length);
    const garbage = Buffer.alloc(3000);
    for (let i = 0; i < garbage.length; i++) {
      garbage[i] = kind === 'zeros' ? 0 : kind === 'magic-laden' && i % 9 === 8 ? 1 : Math.floor(rand() * 256);
    }
    fs.appendFileSync(seg!, garbage);

    const log = await openFileLog({ dataDir: f.dataDir });
    assert.equal(fs.statSync(seg!).size, lastStart, `${kind}: torn batch and garbage cut off`);
    assertRecords(await readRange(log, 0, 28), 0, 28, kind);
    assert.deepEqual(await log.append(T, 0, [rec(28)]), { baseOffset: 28, lastOffset: 28 });
    assertRecords(await readRange(log, 0, 29), 0, 29, kind);
    await log.close();
  }
});

test('garbage after whole batches (no torn batch) is cut off too', async (t) => {
  const f = await fixture(t, 3, 3);
  const [seg] = f.segments();
  const size = fs.statSync(seg!).size;
  fs.appendFileSync(seg!, Buffer.from('this is not a batch, just junk the disk left behind'));
  const log = await openFileLog({ dataDir: f.dataDir });
  assert.equal(fs.statSync(seg!).size, size);
  assert.deepEqual(await log.append(T, 0, [rec(9)]), { baseOffset: 9, lastOffset: 9 });
  assertRecords(await readRange(log, 0, 10), 0, 10);
  await log.close();
});

// ---- corruption in the middle ----------------------------------------------------

test('flipped byte in the middle of the active segment: reported with topic/partition/offset, not truncated', async (t) => {
  const f = await fixture(t, 20, 5);
  const [seg] = f.segments();
  const positions = batchPositions(seg!);
  const size = fs.statSync(seg!).size;
  // Damage batch 10 (offsets 50..54) inside a record value.
  flipByte(seg!, positions[10]! + 120);

  const log = await openFileLog({ dataDir: f.dataDir });
  try {
    assert.equal(fs.statSync(seg!).size, size, 'recovery must not truncate data after the damage');
    assert.equal((await log.describeTopic(T)).partitions[0]!.endOffset, 100, 'the end offset counts the records after the damage');
    // Records before the damage read fine (when the read stops before it).
    assertRecords(await readRange(log, 0, 50), 0, 50);
    // Reading the damaged batch fails loudly, whether the read starts at it, inside it, or before it.
    await assert.rejects(log.read(T, 0, 50), isCorruptAt(50));
    await assert.rejects(log.read(T, 0, 52), isCorruptAt(52));
    await readIntoDamage(log, 45, 50);
    // Reading on from past the damage works.
    assertRecords(await readRange(log, 55, 100), 55, 100, 'past the damage');
    // And the log still appends after it.
    assert.deepEqual(await log.append(T, 0, [rec(100)]), { baseOffset: 100, lastOffset: 100 });
    assertRecords(await readRange(log, 55, 101), 55, 101, 'after a new append');
  } finally {
    await log.close();
  }
  // Still reported (and still not truncated) after another reopen.
  const again = await openFileLog({ dataDir: f.dataDir });
  try {
    await assert.rejects(again.read(T, 0, 50), isCorruptAt(50));
    assertRecords(await readRange(again, 55, 101), 55, 101);
  } finally {
    await again.close();
  }
});

test('a damaged length field in the middle is corruption, not a torn tail', async (t) => {
  const f = await fixture(t, 12, 3);
  const [seg] = f.segments();
  const positions = batchPositions(seg!);
  const size = fs.statSync(seg!).size;
  flipByte(seg!, positions[4]! + 3); // low byte of batch 4's length (offsets 12..14)
  const log = await openFileLog({ dataDir: f.dataDir });
  try {
    assert.equal(fs.statSync(seg!).size, size);
    assertRecords(await readRange(log, 0, 12), 0, 12);
    await assert.rejects(log.read(T, 0, 12), isCorruptAt(12));
    assertRecords(await readRange(log, 15, 36), 15, 36);
  } finally {
    await log.close();
  }
});

test('a sequential reader gets every record before the damage, then CORRUPT_RECORD', async (t) => {
  const f = await fixture(t, 20, 5);
  const [seg] = f.segments();
  flipByte(seg!, batchPositions(seg!)[10]! + 120);
  const log = await openFileLog({ dataDir: f.dataDir });
  try {
    const got: LogRecord[] = [];
    let offset = 0;
    let error: unknown = null;
    try {
      for (;;) {
        const r = await log.read(T, 0, offset); // default limits: the whole segment fits in one read
        got.push(...r.records);
        if (r.nextOffset >= r.highWatermark) break;
        offset = r.nextOffset;
      }
    } catch (e) {
      error = e;
    }
    assertRecords(got, 0, 50, 'before the damage');
    assert.ok(isCorruptAt(50)(error));
  } finally {
    await log.close();
  }
});

/** A topic whose segments roll every ~24 KiB, with index entries every ~4 KiB inside them. */
async function rolledFixture(t: { after(fn: () => void): void }): Promise<Fixture> {
  const f = await fixture(t, 60, 4, { file: { segmentBytes: 24 * 1024 } });
  assert.ok(f.segments().length >= 3, 'the fixture rolled segments');
  return f;
}

function segmentRange(path: string): { first: number; end: number } {
  const buf = fs.readFileSync(path);
  const positions = batchPositions(path);
  const last = positions[positions.length - 1]!;
  return { first: Number(buf.readBigUInt64BE(12)), end: Number(buf.readBigUInt64BE(last + 12)) + buf.readUInt32BE(last + 20) + 1 };
}

test('flipped byte in the middle of a closed segment: reported, later data and segments intact', async (t) => {
  const f = await rolledFixture(t);
  const segs = f.segments();
  const seg0 = segs[0]!;
  const positions = batchPositions(seg0);
  const { end: end0 } = segmentRange(seg0);
  const mid = Math.floor(positions.length / 2);
  const bad = mid * 4; // batch `mid` holds offsets bad..bad+3
  flipByte(seg0, positions[mid]! + 100);
  const sizes = segs.map((s) => fs.statSync(s).size);

  const log = await openFileLog({ dataDir: f.dataDir });
  try {
    assert.deepEqual(f.segments().map((s) => fs.statSync(s).size), sizes, 'nothing truncated');
    assertRecords(await readRange(log, 0, bad), 0, bad);
    await assert.rejects(log.read(T, 0, bad), isCorruptAt(bad));
    await readIntoDamage(log, 0, bad);
    // The following segments read fine, and so does the end of this one.
    assertRecords(await readRange(log, end0, 240), end0, 240, 'later segments');
    assertRecords(await readRange(log, end0 - 4, 240), end0 - 4, 240, 'last batch of the damaged segment');
    assert.deepEqual(await log.append(T, 0, [rec(240)]), { baseOffset: 240, lastOffset: 240 });
  } finally {
    await log.close();
  }
});

test('reading from the batch right after damage in a closed segment works', async (t) => {
  const f = await rolledFixture(t);
  const seg0 = f.segments()[0]!;
  const positions = batchPositions(seg0);
  const mid = Math.floor(positions.length / 2);
  flipByte(seg0, positions[mid]! + 100);
  const bad = mid * 4;
  const log = await openFileLog({ dataDir: f.dataDir });
  try {
    assertRecords(await readRange(log, bad + 4, 240), bad + 4, 240);
  } finally {
    await log.close();
  }
});

test('damage in the last batch of a closed segment: the writer refuses, a reader reports it, nothing is skipped silently', async (t) => {
  const f = await rolledFixture(t);
  const seg0 = f.segments()[0]!;
  const positions = batchPositions(seg0);
  const { end: end0 } = segmentRange(seg0);
  const size0 = fs.statSync(seg0).size;
  flipByte(seg0, positions[positions.length - 1]! + 100);
  // A closed segment was whole and synced before the next one began: a bad end is damage.
  const writer = await openFileLog({ dataDir: f.dataDir });
  try {
    await assert.rejects(writer.read(T, 0, 0), (e: unknown) => {
      assert.ok(isSluiceError(e, 'DAMAGED'), String(e));
      assert.ok(e.message.includes(seg0) && e.message.includes(`offsets ${end0 - 4}-${end0 - 1} of ${T}/0`), e.message);
      return true;
    });
  } finally {
    await writer.close();
  }
  assert.equal(fs.statSync(seg0).size, size0, 'a closed segment is never truncated on open');
  // A reader judges it as the writer does (damage/read-only.test.ts), rather than reading up to it.
  const log = await openFileLog({ dataDir: f.dataDir, readOnly: true });
  try {
    await assert.rejects(log.read(T, 0, 0), (e: unknown) => isSluiceError(e, 'DAMAGED') && e.message.includes(`offsets ${end0 - 4}-${end0 - 1} of ${T}/0`));
  } finally {
    await log.close();
  }
});

test('batches larger than the scan chunk (4 MiB) survive reopen: alone, and back to back', async (t) => {
  const big = (i: number) => rec(i, 5 * 1024 * 1024);
  for (const layout of [[big(0)], [big(0), big(1), rec(2), big(3)]]) {
    const dataDir = tmpDir(t);
    let log = await openFileLog({ dataDir });
    await log.createTopic(T, { partitions: 1 });
    for (const r of layout) await log.append(T, 0, [r]);
    await log.close();
    const [seg] = fs.readdirSync(join(dataDir, 'topics', T, '0')).filter((n) => n.endsWith('.log'));
    const path = join(dataDir, 'topics', T, '0', seg!);
    const size = fs.statSync(path).size;
    log = await openFileLog({ dataDir });
    try {
      assert.equal(fs.statSync(path).size, size, `${layout.length} batches: nothing truncated`);
      const got = await readRange(log, 0, layout.length);
      assert.deepEqual(got.map((r) => r.offset), layout.map((_, i) => i));
      layout.forEach((want, i) => assert.ok(sameRecord(got[i]!, want), `record ${i} intact`));
      const n = layout.length;
      assert.deepEqual(await log.append(T, 0, [rec(n)]), { baseOffset: n, lastOffset: n });
    } finally {
      await log.close();
    }
  }
});

// ---- indexes ---------------------------------------------------------------------

async function checkSeeks(log: FileLog, total: number, ctx: string): Promise<void> {
  for (let i = 0; i < total; i += 7) {
    const r = await log.read(T, 0, i, { maxRecords: 3 });
    assertRecords(r.records, i, Math.min(i + 3, total), `${ctx}: read at ${i}`);
    assert.equal(await log.offsetForTimestamp(T, 0, rec(i).timestamp!), i, `${ctx}: seek to the timestamp of ${i}`);
    assert.equal(await log.offsetForTimestamp(T, 0, rec(i).timestamp! - 5), i, `${ctx}: seek between timestamps before ${i}`);
  }
  assert.equal(await log.offsetForTimestamp(T, 0, 0), 0, `${ctx}: seek before everything`);
  assert.equal(await log.offsetForTimestamp(T, 0, rec(total).timestamp!), total, `${ctx}: seek after everything`);
}

function indexFiles(f: Fixture): string[] {
  return fs
    .readdirSync(f.dir)
    .filter((n) => n.endsWith('.index') || n.endsWith('.timeindex'))
    .sort()
    .map((n) => join(f.dir, n));
}

test('missing, truncated or corrupted index files are rebuilt on open; seeks stay correct', async (t) => {
  const f = await rolledFixture(t);
  const files = indexFiles(f);
  assert.ok(files.length >= 6, 'every segment has both indexes');
  const original = new Map(files.map((p) => [p, fs.readFileSync(p)]));
  assert.ok([...original.values()].some((b) => b.length > 28 + 8), 'the indexes have entries');

  const damage: [string, (p: string) => void][] = [
    ['deleted', (p) => fs.rmSync(p)],
    ['truncated', (p) => fs.truncateSync(p, Math.floor(fs.statSync(p).size / 2))],
    ['emptied', (p) => fs.truncateSync(p, 0)],
    ['corrupted', (p) => flipByte(p, fs.statSync(p).size - 3)],
    ['stale', (p) => fs.writeFileSync(p, original.get(files.find((q) => q !== p && q.endsWith(p.slice(-6)))!)!)],
  ];
  for (const [what, fn] of damage) {
    for (const p of files) fn(p);
    const log = await openFileLog({ dataDir: f.dataDir });
    try {
      await checkSeeks(log, 240, `${what} indexes`);
    } finally {
      await log.close();
    }
    for (const p of files) assert.deepEqual(fs.readFileSync(p), original.get(p), `${what}: ${p} rebuilt as it was`);
  }
});

test('every single flipped byte in an index file is detected: reads stay correct', async (t) => {
  const f = await rolledFixture(t);
  const closed = indexFiles(f).filter((p) => p.startsWith(f.segments()[0]!.replace(/\.log$/, '')));
  assert.equal(closed.length, 2);
  for (const p of closed) {
    const original = fs.readFileSync(p);
    for (let i = 0; i < original.length; i++) {
      const damaged = Buffer.from(original);
      damaged[i] = damaged[i]! ^ 0x10;
      fs.writeFileSync(p, damaged);
      const log = await openFileLog({ dataDir: f.dataDir });
      try {
        const seg0End = segmentRange(f.segments()[0]!).end;
        for (const at of [0, 9, Math.floor(seg0End / 2), seg0End - 2]) {
          const r = await log.read(T, 0, at, { maxRecords: 2 });
          assertRecords(r.records, at, at + 2, `${p} byte ${i}: read at ${at}`);
          assert.equal(await log.offsetForTimestamp(T, 0, rec(at).timestamp! - 1), at, `${p} byte ${i}: seek to ${at}`);
        }
      } finally {
        await log.close();
      }
      assert.deepEqual(fs.readFileSync(p), original, `${p} byte ${i}: rebuilt`);
    }
  }
});

test('leftovers of an interrupted compaction or index write are removed, and change nothing', async (t) => {
  const f = await rolledFixture(t);
  const [seg0, seg1] = f.segments();
  const junk = [`${seg0}.cleaned`, `${seg1!.replace(/\.log$/, '.index')}.tmp`, `${seg0!.replace(/\.log$/, '.timeindex')}.tmp`];
  // A half-written cleaned segment that would lose records if it were taken for the real one.
  fs.writeFileSync(junk[0]!, fs.readFileSync(seg0!).subarray(0, 500));
  fs.writeFileSync(junk[1]!, Buffer.from('half an index'));
  fs.writeFileSync(junk[2]!, Buffer.alloc(7));

  const ro = await openFileLog({ dataDir: f.dataDir, readOnly: true });
  try {
    assertRecords(await readRange(ro, 0, 240), 0, 240, 'read-only, leftovers present');
  } finally {
    await ro.close();
  }
  const log = await openFileLog({ dataDir: f.dataDir });
  try {
    for (const j of junk) assert.equal(fs.existsSync(j), false, `${j} removed`);
    assertRecords(await readRange(log, 0, 240), 0, 240);
    await checkSeeks(log, 240, 'with leftovers');
  } finally {
    await log.close();
  }
});
