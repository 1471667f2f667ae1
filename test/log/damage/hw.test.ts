// Damage to a partition's `hw` file (the writer's published watermarks and
// synced end). It is visibility and evidence, never the data itself: a reader
// with no live writer goes by what it verifies on disk, so a stale, torn,
// flipped or deleted hw file hides nothing; a writer rewrites it on open. An hw
// file saying more was synced than the segments hold is damage to the
// segments: a reader refuses it (DAMAGED) as the writer does, at open or, when
// it happens later, at the gap, instead of showing a silent end.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { openFileLog } from '../../../src/log/file/file-log.ts';
import { readPublishedWatermark } from '../../../src/log/file/watermark-file.ts';
import { indexPath } from '../../../src/log/file/segment-index.ts';
import { isSluiceError } from '../../../src/errors.ts';
import { jsonLines, runCli, spawnCli } from '../../helpers/cli.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { assertRecords, batchPositions, filled, flipByte, readRange, rec, T } from './helpers.ts';

/** Resolves once the hw file in `dir` publishes at least `offset` (watching the directory, not sleeping). */
function publishedAtLeast(dir: string, offset: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => (readPublishedWatermark(dir)?.highWatermark ?? -1) >= offset;
    if (check()) return resolve();
    const w = fs.watch(dir, () => {
      if (!check()) return;
      w.close();
      clearTimeout(timer);
      resolve();
    });
    const timer = setTimeout(() => {
      w.close();
      reject(new Error(`hw in ${dir} did not reach ${offset}`));
    }, 60_000);
  });
}

async function endOffset(dataDir: string): Promise<number> {
  const r = await runCli(['topic', 'describe', T], { dataDir });
  assert.equal(r.code, 0, r.stderr);
  return (jsonLines(r.stdout)[0] as { partitions: { endOffset: number }[] }).partitions[0]!.endOffset;
}

test('after kill -9 of a writer, read-only readers see every record it made durable, even with a stale hw file', async (t) => {
  const dataDir = tmpDir(t, 'sluice-hw-');
  assert.equal((await runCli(['topic', 'create', T, '--partitions', '1'], { dataDir })).code, 0);
  const dir = join(dataDir, 'topics', T, '0');
  const producer = spawnCli(['produce', T, '--batch-records', '1'], { dataDir });
  const exited = new Promise((r) => producer.on('exit', r));
  const line = (i: number) => JSON.stringify({ i }) + '\n';
  for (let i = 0; i < 10; i++) producer.stdin.write(line(i));
  await publishedAtLeast(dir, 10);
  // What a kill between a batch's fsync and its publication leaves: an hw file one step behind.
  const stale = fs.readFileSync(join(dir, 'hw'));
  for (let i = 10; i < 20; i++) producer.stdin.write(line(i));
  await publishedAtLeast(dir, 20);
  producer.kill('SIGKILL');
  await exited;
  fs.writeFileSync(join(dir, 'hw'), stale);
  assert.equal(readPublishedWatermark(dir)?.highWatermark, 10, 'the hw file is stale');

  assert.equal(await endOffset(dataDir), 20, 'topic describe counts every durable record');
  const consumed = await runCli(['consume', T], { dataDir });
  assert.equal(consumed.code, 0, consumed.stderr);
  assert.deepEqual(jsonLines(consumed.stdout), Array.from({ length: 20 }, (_, i) => ({ i })));
});

test('a flipped, truncated, emptied or deleted hw file hides nothing from readers and is rewritten by the writer', async (t) => {
  const damage: [string, (p: string) => void][] = [
    ['flipped', (p) => flipByte(p, 9)],
    ['truncated', (p) => fs.truncateSync(p, 20)],
    ['emptied', (p) => fs.truncateSync(p, 0)],
    ['deleted', (p) => fs.rmSync(p)],
  ];
  for (const [what, fn] of damage) {
    const f = await filled(t, 20, 5);
    const hw = join(f.dir, 'hw');
    fn(hw);
    const ro = await openFileLog({ dataDir: f.dataDir, readOnly: true });
    try {
      assert.equal((await ro.describeTopic(T)).partitions[0]!.endOffset, 100, `${what}: the reader's end`);
      assertRecords(await readRange(ro, 0, 100), 0, 100, `${what}: read-only`);
    } finally {
      await ro.close();
    }
    const log = await openFileLog({ dataDir: f.dataDir });
    try {
      assert.deepEqual(readPublishedWatermark(f.dir), { highWatermark: 100, lastStableOffset: 100, syncedEnd: 100 }, `${what}: rewritten`);
      assert.equal((await log.append(T, 0, [rec(100)])).baseOffset, 100);
    } finally {
      await log.close();
    }
  }
});

test('an hw file that says more was synced than the segment holds: a reader refuses it at open, as the writer does', async (t) => {
  const f = await filled(t, 20, 5);
  const [seg] = f.segments();
  fs.truncateSync(seg!, batchPositions(seg!)[12]!);
  fs.rmSync(indexPath(seg!), { force: true }); // the hw file is the only evidence left
  const ro = await openFileLog({ dataDir: f.dataDir, readOnly: true });
  try {
    await assert.rejects(ro.read(T, 0, 0), (e: unknown) => {
      assert.ok(isSluiceError(e, 'DAMAGED'), String(e));
      assert.equal(e.details.file, seg);
      assert.ok(e.message.includes(seg!) && e.message.includes(`${f.dir}/hw`) && e.message.includes(`offsets 60-99 of ${T}/0`), e.message);
      return true;
    });
  } finally {
    await ro.close();
  }
});

test('records a writer synced after a reader opened, then lost: the reader reports DAMAGED at the gap, and a tailer is woken to find it', async (t) => {
  const f = await filled(t, 12, 5);
  const [seg] = f.segments();
  const ro = await openFileLog({ dataDir: f.dataDir, readOnly: true });
  try {
    assertRecords(await readRange(ro, 0, 60), 0, 60, 'before');
    const size = fs.statSync(seg!).size;
    const w = await openFileLog({ dataDir: f.dataDir });
    try {
      for (let i = 60; i < 100; i += 5) await w.append(T, 0, [60, 61, 62, 63, 64].map((k) => rec(k - 60 + i)));
    } finally {
      await w.close();
    }
    // Lost before the reader looked again: what the writer synced (its hw file says so) is gone.
    fs.truncateSync(seg!, size);
    await assert.rejects(ro.read(T, 0, 60), (e: unknown) => {
      assert.ok(isSluiceError(e, 'DAMAGED'), String(e));
      assert.equal(e.details.file, seg);
      assert.ok(e.message.includes(seg!) && e.message.includes(`offsets 60-99`) && e.message.includes(`${T}/0@60`), e.message);
      return true;
    });
    // A tailer is woken to find it, not left waiting for records that will never come.
    await ro.waitFor(T, 0, 60, AbortSignal.timeout(60_000));
    await assert.rejects(ro.read(T, 0, 60), (e: unknown) => isSluiceError(e, 'DAMAGED'));
  } finally {
    await ro.close();
  }
});
