// Damage to segment files (issue 13): a segment shorter than what something
// durable says it held is damage, not a torn tail. The writer refuses with
// DAMAGED naming the file and the offsets lost, changing nothing; the Damage's
// repair truncates to the last whole batch and marks the lost offsets as a gap,
// so they are never reused. A truly torn tail (bytes after the last
// acknowledged append) still recovers silently.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { openFileLog } from '../../../src/log/file/file-log.ts';
import { encodeBatch } from '../../../src/log/batch.ts';
import { indexPath, timeIndexPath } from '../../../src/log/file/segment-index.ts';
import { assertRecords, assertRefused, batchPositions, filled, flipByte, readRange, rec, repairOne, T } from './helpers.ts';

/** The offset of the first batch at or after byte `position` of a one-segment partition written `perBatch` at a time. */
function offsetAt(path: string, position: number, perBatch: number): number {
  const positions = batchPositions(path);
  return positions.filter((p) => p < position).length * perBatch;
}

test('half-truncating the active segment is refused (hw and index say it held more), and a repair never reuses the offsets', async (t) => {
  const f = await filled(t, 200, 10);
  const [seg] = f.segments();
  const half = Math.floor(fs.statSync(seg!).size / 2);
  fs.truncateSync(seg!, half);
  // The last whole batch before the cut ends at `kept` records.
  const kept = offsetAt(seg!, half, 10) - 10;
  const e = await assertRefused(f.dataDir, seg!, new RegExp(`offsets ${kept}-1999 of ${T}/0 \\(at least ${2000 - kept} records\\) acknowledged and now missing`));
  assert.match(e.message, /sluice repair/);

  const d = await repairOne(f.dataDir, seg!);
  assert.match(d.loss, new RegExp(`offsets ${kept}-1999 of ${T}/0`));
  const log = await openFileLog({ dataDir: f.dataDir });
  try {
    assert.equal((await log.describeTopic(T)).partitions[0]!.endOffset, 2000, 'the end stays where it was acknowledged');
    assertRecords(await readRange(log, 0, kept), 0, kept, 'before the damage');
    const r = await log.read(T, 0, kept);
    assert.deepEqual(r.records, [], 'the lost offsets hold nothing');
    assert.equal(r.nextOffset, 2000);
    assert.deepEqual(await log.append(T, 0, [rec(2000)]), { baseOffset: 2000, lastOffset: 2000 }, 'offsets are never reused');
    assertRecords(await readRange(log, 2000, 2001), 2000, 2001, 'after the repair');
    assertRecords((await readRange(log, kept, 2001)), 2000, 2001, 'reading across the gap');
  } finally {
    await log.close();
  }
});

test('truncated at a batch boundary, with the hw file gone: the index still says the segment held more', async (t) => {
  const f = await filled(t, 40, 5);
  const [seg] = f.segments();
  const positions = batchPositions(seg!);
  fs.truncateSync(seg!, positions[30]!);
  fs.rmSync(join(f.dir, 'hw'));
  await assertRefused(f.dataDir, seg!, /acknowledged/);
  await repairOne(f.dataDir, seg!);
  const log = await openFileLog({ dataDir: f.dataDir });
  try {
    assertRecords(await readRange(log, 0, 150), 0, 150);
    const next = (await log.append(T, 0, [rec(150)])).baseOffset;
    assert.equal(next, 150, 'no offset evidence was left (hw gone), so offsets go on from the last batch');
  } finally {
    await log.close();
  }
});

test('truncated with hw and indexes gone: committed transactions in the transaction log still say it held more', async (t) => {
  const f = await filled(t, 0, 0);
  let log = await openFileLog({ dataDir: f.dataDir });
  try {
    const producer = await log.initProducer('job');
    for (let s = 1; s <= 20; s++) {
      await log.commitTransaction(producer, s, { writes: [{ topic: T, partition: 0, records: Array.from({ length: 5 }, (_, j) => rec((s - 1) * 5 + j)) }], offsets: [] });
    }
  } finally {
    await log.close();
  }
  const [seg] = f.segments();
  fs.truncateSync(seg!, batchPositions(seg!)[12]! + 7);
  for (const p of [join(f.dir, 'hw'), indexPath(seg!), timeIndexPath(seg!)]) fs.rmSync(p);
  await assertRefused(f.dataDir, seg!, new RegExp(`offsets 60-99 of ${T}/0`));
  await repairOne(f.dataDir, seg!);
  log = await openFileLog({ dataDir: f.dataDir });
  try {
    assertRecords(await readRange(log, 0, 60), 0, 60);
    assert.equal((await log.append(T, 0, [rec(100)])).baseOffset, 100);
  } finally {
    await log.close();
  }
});

test('the active segment deleted: refused, naming the partition and the offsets of the missing segment', async (t) => {
  const f = await filled(t, 60, 4, { file: { segmentBytes: 24 * 1024 } });
  const segs = f.segments();
  assert.ok(segs.length >= 3);
  const last = segs[segs.length - 1]!;
  const prev = segs[segs.length - 2]!;
  const base = Number(last.slice(-24, -4));
  fs.rmSync(last);
  await assertRefused(f.dataDir, prev, new RegExp(`offsets ${base}-239 of ${T}/0`));
  await repairOne(f.dataDir, prev);
  const log = await openFileLog({ dataDir: f.dataDir });
  try {
    assertRecords(await readRange(log, 0, base), 0, base);
    assert.equal((await log.append(T, 0, [rec(240)])).baseOffset, 240);
  } finally {
    await log.close();
  }
});

test('a truly torn tail (an unacknowledged append cut short) still recovers silently', async (t) => {
  for (const cut of [10, 70, -1]) {
    const f = await filled(t, 10, 5);
    const [seg] = f.segments();
    const size = fs.statSync(seg!).size;
    // What a crash in the middle of the next write leaves: part of a batch nobody acknowledged.
    const torn = encodeBatch([rec(50), rec(51)], { baseOffset: 50, appendTime: Date.now() });
    fs.appendFileSync(seg!, torn.subarray(0, cut < 0 ? torn.length - 1 : cut));
    const log = await openFileLog({ dataDir: f.dataDir });
    try {
      assert.equal(fs.statSync(seg!).size, size, 'the torn append is cut off');
      assertRecords(await readRange(log, 0, 50), 0, 50);
      assert.deepEqual(await log.append(T, 0, [rec(50)]), { baseOffset: 50, lastOffset: 50 });
    } finally {
      await log.close();
    }
  }
});

test('a flipped byte in the last acknowledged batch is damage, not a torn tail', async (t) => {
  const f = await filled(t, 10, 5);
  const [seg] = f.segments();
  flipByte(seg!, batchPositions(seg!)[9]! + 100);
  await assertRefused(f.dataDir, seg!, new RegExp(`offsets 45-49 of ${T}/0`));
});

test('offsets a transaction commits past the end of a topic are not evidence: the dir reopens cleanly (found by the protocol fuzz)', async (t) => {
  const f = await filled(t, 4, 5);
  const log = await openFileLog({ dataDir: f.dataDir });
  try {
    await log.createTopic('out');
    const p = await log.initProducer('job');
    // Any offset may be committed, as in Kafka: here 570 on a partition that ends at 20.
    await log.commitTransaction(p, 1, {
      writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: Buffer.from('x') }] }],
      offsets: [{ group: 'g', offsets: [{ topic: T, partition: 0, offset: 570 }] }],
    });
  } finally {
    await log.close();
  }
  const again = await openFileLog({ dataDir: f.dataDir });
  try {
    assertRecords(await readRange(again, 0, 20), 0, 20);
    assert.deepEqual(await again.append(T, 0, [rec(20)]), { baseOffset: 20, lastOffset: 20 });
  } finally {
    await again.close();
  }
});
