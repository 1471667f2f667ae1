// A deleted middle segment of a compacted topic (issue 13): compaction keeps
// segments contiguous (a rewritten one ends with a gap batch up to the next
// segment's base), so a missing segment is damage there too, for writers and
// readers alike, naming the offsets no file holds. A compacted directory left
// by an older release (gaps between segments, no marker) opens as before and
// is upgraded by its next compaction, after which a deletion is caught.

import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { basename, join } from 'node:path';
import { indexPath, timeIndexPath } from '../../../src/log/file/segment-index.ts';
import { openFileLog } from '../../../src/log/file/file-log.ts';
import { continuityMarkerPath } from '../../../src/log/file/segment-continuity.ts';
import { baseOf, repairOne, segmentFiles } from './helpers.ts';
import { assertBothRefuse, assertCompactedView, assertContiguous, C, compactedTopic, contents, deleteSegment, logOptions, readAllRecords, toOlderFormat } from './compacted-helpers.ts';

test('a deleted middle segment of a compacted topic, after compaction: DAMAGED for writers and readers, naming the range; a repair marks it lost', async (t) => {
  const c = await compactedTopic(t);
  assertContiguous(c.dir, 'after compaction');
  const before = await contents(c.dataDir, false);
  const [first, middle, third] = segmentFiles(c.dir);
  deleteSegment(middle!);
  const from = baseOf(middle!);
  const to = baseOf(third!);
  const message = await assertBothRefuse(c.dataDir, first!, new RegExp(`offsets ${from}-${to - 1} of ${C}/0`));
  assert.match(message, new RegExp(`next segment starts at ${to}`));

  const d = await repairOne(c.dataDir, first!);
  assert.match(d.loss, new RegExp(`offsets ${from}-${to - 1} of ${C}/0`));
  const after = await contents(c.dataDir, false);
  assert.deepEqual(after, before.filter(([o]) => o < from || o >= to), 'everything but the missing segment, as before');
  assert.deepEqual(await contents(c.dataDir, true), after);
  const log = await openFileLog(logOptions(c.dataDir));
  try {
    const end = (await log.describeTopic(C)).partitions[0]!.endOffset;
    assert.equal((await log.append(C, 0, [{ key: Buffer.from('x'), value: Buffer.from('y') }])).baseOffset, end, 'offsets go on, none reused');
  } finally {
    await log.close();
  }
});

test('a deleted middle segment of a compacted topic never compacted yet is damage too (the marker is written at creation)', async (t) => {
  const c = await compactedTopic(t, 300, false);
  assert.ok(fs.existsSync(continuityMarkerPath(c.dir)));
  const [first, middle, third] = segmentFiles(c.dir);
  deleteSegment(middle!);
  await assertBothRefuse(c.dataDir, first!, new RegExp(`offsets ${baseOf(middle!)}-${baseOf(third!) - 1} of ${C}/0`));
});

test('a compacted directory as older releases left it (gaps, no marker) opens without a false alarm; its next compaction upgrades it', async (t) => {
  const c = await compactedTopic(t);
  toOlderFormat(c);
  const writer = await contents(c.dataDir, false);
  assertCompactedView(writer, c.appended, 'older format, writer');
  assert.deepEqual(await contents(c.dataDir, true), writer, 'older format, reader');
  assert.ok(!fs.existsSync(continuityMarkerPath(c.dir)), 'opening alone does not claim contiguity');

  const log = await openFileLog(logOptions(c.dataDir));
  try {
    await log.maintain();
  } finally {
    await log.close();
  }
  assertContiguous(c.dir, 'after the upgrading compaction');
  const upgraded = await contents(c.dataDir, false);
  // After a reopen the whole log is dirty: this run may remove records the last one (due by ratio) did not.
  assertCompactedView(upgraded, c.appended, 'upgraded');
  const had = new Set(writer.map(([o]) => o));
  assert.ok(upgraded.every(([o]) => had.has(o)), 'no record came back');

  const [first, middle, third] = segmentFiles(c.dir);
  deleteSegment(middle!);
  await assertBothRefuse(c.dataDir, first!, new RegExp(`offsets ${baseOf(middle!)}-${baseOf(third!) - 1} of ${C}/0`));
});

for (const what of ['the whole run', 'only the rename over the first segment'] as const) {
  test(`a reader that opens a segment just before a live writer compacts it (${what}) lists again: no false damage`, async (t) => {
    const before = await compactedTopic(t, 600, false);
    // The same partition after the writer's compaction merged segments (each group renamed over its first file).
    const after = await compactedTopic(t, 600, false);
    const log = await openFileLog(logOptions(after.dataDir));
    try {
      await log.maintain();
    } finally {
      await log.close();
    }
    assert.ok(segmentFiles(after.dir).length < segmentFiles(before.dir).length, 'the run merged segments');
    const [first] = segmentFiles(before.dir);
    const firstFiles = [first!, indexPath(first!), timeIndexPath(first!)].map((f) => basename(f));

    const reader = await openFileLog({ ...logOptions(before.dataDir), readOnly: true });
    const open = fs.openSync;
    let ran = false;
    // Once the reader holds the first segment open (as it was), the writer's run (or its first rename) happens.
    const opened = mock.method(fs, 'openSync', (...args: Parameters<typeof fs.openSync>) => {
      const fd = open(...args);
      if (args[0] === first) {
        opened.mock.restore();
        ran = true;
        const replaced = what === 'the whole run' ? fs.readdirSync(before.dir) : firstFiles;
        for (const f of replaced) fs.rmSync(join(before.dir, f), { force: true });
        for (const f of what === 'the whole run' ? fs.readdirSync(after.dir) : firstFiles) fs.copyFileSync(join(after.dir, f), join(before.dir, f));
      }
      return fd;
    });
    let seen: number[];
    try {
      await reader.describeTopic(C);
      assert.ok(ran, 'the writer ran while the reader opened the partition');
      seen = (await readAllRecords(reader)).map((r) => r.offset);
    } finally {
      opened.mock.restore();
      await reader.close();
    }
    assert.deepEqual(seen, (await contents(before.dataDir, true)).map(([o]) => o), 'the reader read the partition as it now is');
  });
}
