// Retention and compaction as a reader sees them through any Log: start
// offsets move, OFFSET_OUT_OF_RANGE below them, superseded records and expired
// tombstones disappear while offsets stay put. They run when the factory's
// `maintain(t, now)` says so (with a clock of the test's choosing).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { isSluiceError } from '../../../src/errors.ts';
import type { Log } from '../../../src/log/log.ts';
import type { LogRecord } from '../../../src/record.ts';
import { readAll as readPartition } from '../../helpers/read-all.ts';
import type { LogFactory } from './factory.ts';
import { b, needs, str, withLog } from './helpers.ts';

function readAll(log: Log, topic: string, partition = 0): Promise<LogRecord[]> {
  return readPartition(log, topic, partition);
}

export function retentionSuite(f: LogFactory): void {
  const maintain = (t: TestContext, now?: number) => f.maintain!(t, now);

  test(`${f.name}: deleteRecords deletes whole segments before an offset, never the active one, and stays deleted after reopen`, async (t) => {
    await withLog(f, t, async (s) => {
      let log = s.log;
      await log.createTopic('j', { file: { segmentBytes: 1000 } });
      for (let i = 0; i < 60; i++) await log.append('j', 0, [{ key: null, value: b(`value-${String(i).padStart(3, '0')}-${'x'.repeat(40)}`) }]);
      assert.equal(await log.deleteRecords('j', 0, 0), 0, 'nothing before offset 0');
      const start = await log.deleteRecords('j', 0, 31);
      assert.ok(start > 0 && start <= 31, `the start moved to a segment's base at or before 31 (${start})`);
      assert.deepEqual(await log.endOffsets('j'), [{ partition: 0, startOffset: start, endOffset: 60 }]);
      await assert.rejects(log.read('j', 0, start - 1), (e) => isSluiceError(e, 'OFFSET_OUT_OF_RANGE') && e.details.startOffset === start);
      assert.deepEqual((await readAll(log, 'j')).map((r) => str(r.value)), Array.from({ length: 60 - start }, (_, i) => `value-${String(start + i).padStart(3, '0')}-${'x'.repeat(40)}`));
      assert.equal(await log.deleteRecords('j', 0, 20), start, 'an offset before the start deletes nothing');
      await assert.rejects(log.deleteRecords('j', 0, 61), (e) => isSluiceError(e, 'OFFSET_OUT_OF_RANGE'));
      // Everything: the active segment stays, so the partition keeps its end and takes appends.
      const last = await log.deleteRecords('j', 0, 60);
      assert.ok(last > start && last < 60, `the active segment is kept (${last})`);
      await log.append('j', 0, [{ key: null, value: b('after') }]);
      log = await s.restart();
      assert.deepEqual(await log.endOffsets('j'), [{ partition: 0, startOffset: last, endOffset: 61 }]);
      assert.equal(str((await readAll(log, 'j')).at(-1)!.value), 'after');
    });
  });

  test(`${f.name}: retention by size deletes whole old segments, never the active one`, needs(f, 'maintain'), async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('t', { retentionBytes: 4000, file: { segmentBytes: 1500 } });
      for (let i = 0; i < 60; i++) await log.append('t', 0, [{ key: null, value: b(`value-${String(i).padStart(3, '0')}-${'x'.repeat(60)}`) }]);
      await maintain(t);
      const p = (await log.describeTopic('t')).partitions[0]!;
      assert.ok(p.sizeBytes <= 4000 + 1500, `size ${p.sizeBytes} within retention + one segment`);
      assert.ok(p.startOffset > 0, 'old records were deleted');
      assert.equal(p.endOffset, 60);
      assert.deepEqual(await log.endOffsets('t'), [{ partition: 0, startOffset: p.startOffset, endOffset: 60 }]);
      const rest = await readAll(log, 't');
      assert.equal(rest[0]!.offset, p.startOffset);
      assert.deepEqual(rest.map((r) => r.offset), Array.from({ length: 60 - p.startOffset }, (_, i) => p.startOffset + i));
      await assert.rejects(log.read('t', 0, 0), (e) => isSluiceError(e, 'OFFSET_OUT_OF_RANGE') && e.details.startOffset === p.startOffset);
    });
  });

  test(`${f.name}: retention by age deletes segments whose newest append is too old`, needs(f, 'maintain'), async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('t', { retentionMs: 60_000, file: { segmentBytes: 1000 } });
      for (let i = 0; i < 30; i++) await log.append('t', 0, [{ key: null, value: b('y'.repeat(100)) }]);
      const before = (await log.describeTopic('t')).partitions[0]!;
      await maintain(t, Date.now()); // nothing is a minute old yet
      assert.deepEqual((await log.describeTopic('t')).partitions[0], before);
      await maintain(t, Date.now() + 61_000);
      const after = (await log.describeTopic('t')).partitions[0]!;
      assert.equal(after.segments, 1, 'only the active segment survives');
      assert.equal(after.endOffset, 30);
      assert.equal(after.startOffset, (await readAll(log, 't'))[0]?.offset ?? after.endOffset);
    });
  });

  test(`${f.name}: compaction keeps the newest record per key, preserves offsets, and expires tombstones later`, needs(f, 'maintain'), async (t) => {
    await withLog(f, t, async (s) => {
      let log = s.log;
      await log.createTopic('t', { compact: true, deleteRetentionMs: 60_000, file: { segmentBytes: 800 } });
      await assert.rejects(log.append('t', 0, [{ key: null, value: b('x') }]), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
      const model = new Map<string, { offset: number; value: string | null }>();
      const appended = new Map<number, [string, string | null]>();
      let offset = 0;
      // k0 and k1 end deleted (tombstones at 120, 121), then 30 updates of the other keys push them into closed segments.
      const keyOf = (i: number) => (i < 120 ? `k${i % 7}` : i < 122 ? `k${i - 120}` : `k${2 + (i % 5)}`);
      for (let i = 0; i < 152; i++) {
        const key = keyOf(i);
        const value = (i < 120 && i % 11 === 10) || i === 120 || i === 121 ? null : `v${i}`;
        await log.append('t', 0, [{ key: b(key), value: value === null ? null : b(value) }]);
        appended.set(offset, [key, value]);
        model.set(key, { offset: offset++, value });
      }
      // Segment rolls may already have triggered compaction in the background; this runs it to the end.
      await maintain(t);
      const after = await readAll(log, 't');
      assert.ok(after.length < 60, `compaction removed superseded records (${after.length} left)`);
      // Offsets still strictly increase and every survivor is identical to what was appended at its offset.
      for (let i = 1; i < after.length; i++) assert.ok(after[i]!.offset > after[i - 1]!.offset);
      for (const r of after) assert.deepEqual([str(r.key), str(r.value)], appended.get(r.offset));
      // The newest record of every key survives (tombstones too, within deleteRetentionMs).
      for (const [key, v] of model) assert.ok(after.some((r) => r.offset === v.offset && str(r.key) === key), `newest ${key} kept`);
      assert.ok(after.some((r) => r.offset === 120 && r.value === null), 'a young tombstone is kept');
      const active = (await log.describeTopic('t')).partitions[0]!;
      assert.equal(active.endOffset, 152);

      log = await s.restart();
      assert.deepEqual((await readAll(log, 't')).map((r) => r.offset), after.map((r) => r.offset), 'compacted segments reopen intact');

      await maintain(t, Date.now() + 61_000);
      const final = await readAll(log, 't');
      // Every tombstone is gone: the last two (k0, k1 at 120, 121) expired, the older ones were
      // superseded. (The active segment is never compacted, but it starts after 121: the 30 updates
      // after it fill several 800-byte segments.)
      assert.deepEqual(final.filter((r) => r.value === null).map((r) => r.offset), [], 'no tombstone outlived deleteRetentionMs');
      assert.ok(!final.some((r) => r.offset === 120 || r.offset === 121), 'expired tombstones were removed');
      assert.ok(!final.some((r) => str(r.key) === 'k0' || str(r.key) === 'k1'), 'deleted keys are gone');
      // Reading the table gives the model's latest values.
      const table = new Map<string, string | null>();
      for (const r of final) table.set(str(r.key)!, str(r.value));
      for (const [key, v] of model) if (v.value !== null) assert.equal(table.get(key), v.value);
    });
  });
}
