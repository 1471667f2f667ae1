// Read-only opens judge damage as writers do (issue 13, item 2): with no live
// writer, a reader (`sluice consume`, `topic describe`, `state`) that opens a
// damaged partition fails with the writer's DAMAGED error, word for word,
// instead of returning the records before the damage as if they were all. With
// a live writer, its active segment is being written: readers never judge it
// (its unsynced tail is not damage), only the closed segments.

import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { openFileLog } from '../../../src/log/file/file-log.ts';
import { readPublishedWatermark } from '../../../src/log/file/watermark-file.ts';
import { isSluiceError, type SluiceError } from '../../../src/errors.ts';
import { jsonLines, runCli, spawnCli } from '../../helpers/cli.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { assertRecords, assertRefused, baseOf, readRange, segmentDamages, segmentFiles, segmented, snapshot, T } from './helpers.ts';

/** What a read-only open of the damaged dir throws, at describe and at read; no file changed. */
async function readerError(dataDir: string): Promise<SluiceError> {
  const before = snapshot(dataDir);
  const ro = await openFileLog({ dataDir, readOnly: true });
  let described: unknown = null;
  let read: unknown = null;
  try {
    await ro.describeTopic(T).catch((e: unknown) => (described = e));
    await ro.read(T, 0, 0).catch((e: unknown) => (read = e));
  } finally {
    await ro.close();
  }
  assert.ok(isSluiceError(described, 'DAMAGED'), `describe: expected DAMAGED, got ${String(described)}`);
  assert.ok(isSluiceError(read, 'DAMAGED'), `read: expected DAMAGED, got ${String(read)}`);
  assert.equal(read.message, described.message);
  const after = snapshot(dataDir);
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'the reader created or deleted no file');
  for (const [p, b] of before) assert.ok(after.get(p)!.equals(b), `${p} unchanged by the reader`);
  return described;
}

for (const d of segmentDamages) {
  test(`${d.what}: a read-only open with no writer refuses it with the writer's error`, async (t) => {
    const f = await segmented(t);
    const { file, loss } = d.apply(f.dir);
    const writer = await assertRefused(f.dataDir, file, loss);
    const reader = await readerError(f.dataDir);
    assert.equal(reader.message, writer.message);
    assert.equal(reader.details.file, file);
  });
}

test('a reader beside a live writer never reports damage, however the writer is caught mid-append or mid-roll', async (t) => {
  const dataDir = tmpDir(t, 'sluice-ro-live-');
  const created = await runCli(['topic', 'create', T, '--partitions', '1', '--segment-bytes', '4096'], { dataDir });
  assert.equal(created.code, 0, created.stderr);
  const dir = join(dataDir, 'topics', T, '0');
  const producer = spawnCli(['produce', T, '--batch-records', '1'], { dataDir });
  let producerErr = '';
  producer.stderr.setEncoding('utf8').on('data', (s: string) => (producerErr += s));
  const exited = new Promise<number | null>((r) => producer.on('exit', r));
  let sent = 0;
  let stopped = false;
  const feed = (): void => {
    // Small writes, each its own batch: the reader meets the writer between write and publish often.
    while (!stopped && producer.stdin.write(JSON.stringify({ i: sent++, pad: 'x'.repeat(sent % 97) }) + '\n'));
    if (!stopped) producer.stdin.once('drain', feed);
  };
  feed();
  let opens = 0;
  let cliReads = 0;
  try {
    // Until the writer has rolled a few times and readers opened the dir often while it did.
    while (segmentFiles(dir).length < 6 || opens < 60 || cliReads < 3) {
      assert.equal(producer.exitCode, null, `the producer is still running: ${producerErr}`);
      const ro = await openFileLog({ dataDir, readOnly: true });
      try {
        const end = (await ro.describeTopic(T)).partitions[0]!.endOffset;
        const r = await ro.read(T, 0, Math.max(0, end - 5));
        assert.ok(r.records.every((rec, k) => rec.offset === Math.max(0, end - 5) + k));
      } finally {
        await ro.close();
      }
      opens++;
      if (opens % 20 === 0) {
        for (const args of [['consume', T], ['topic', 'describe', T]]) {
          const r = await runCli(args, { dataDir });
          assert.equal(r.code, 0, `${args.join(' ')} beside a live writer: ${r.stderr}`);
        }
        cliReads++;
      }
    }
  } finally {
    stopped = true;
    producer.stdin.end();
  }
  assert.equal(await exited, 0, producerErr);
  const all = await runCli(['consume', T], { dataDir });
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual((jsonLines(all.stdout) as { i: number }[]).map((v) => v.i), Array.from({ length: sent }, (_, i) => i));
  assert.equal(readPublishedWatermark(dir)?.syncedEnd, sent);
  assert.ok(fs.existsSync(dir));
});

test('segments a live writer deletes between a reader listing them and opening them are no damage: retention, and the topic deleted', async (t) => {
  const f = await segmented(t);
  const [first, second, third] = segmentFiles(f.dir);
  const grave = `${f.dataDir}/topics/.deleted-${T}`;
  for (const [what, afterListing] of [
    ['retention deleted the two oldest', () => [first!, second!].forEach((p) => fs.rmSync(p))],
    ['the topic was deleted', () => fs.renameSync(`${f.dataDir}/topics/${T}`, grave)],
  ] as const) {
    const ro = await openFileLog({ dataDir: f.dataDir, readOnly: true });
    // What a writer does between the reader's listing of the partition and its opening the segments.
    const readdir = fs.readdirSync;
    const listed = mock.method(fs, 'readdirSync', (...args: Parameters<typeof fs.readdirSync>) => {
      const names = readdir(...args);
      if (args[0] === f.dir) {
        listed.mock.restore();
        afterListing();
      }
      return names;
    });
    try {
      if (what === 'the topic was deleted') {
        await assert.rejects(ro.describeTopic(T), (e: unknown) => !isSluiceError(e, 'DAMAGED') && /no such file|ENOENT/.test(String(e)));
        fs.renameSync(grave, `${f.dataDir}/topics/${T}`);
      } else {
        const d = await ro.describeTopic(T);
        assert.equal(d.partitions[0]!.startOffset, baseOf(third!));
        assertRecords(await readRange(ro, baseOf(third!), 240), baseOf(third!), 240, what);
      }
    } finally {
      listed.mock.restore();
      await ro.close();
    }
  }
});
