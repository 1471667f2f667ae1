// Damage to topic.json (issue 13): a topic.json that does not parse, is cut
// short, or is missing refuses that topic only (the message names the file);
// every other topic opens and takes writes. The repair rewrites it from the
// partition directories and keeps the topic's id, so group offsets still apply.
// Topic creation is all-or-nothing.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { openFileLog } from '../../../src/log/file/file-log.ts';
import { setIo, realIo } from '../../../src/log/file/io.ts';
import { isSluiceError } from '../../../src/errors.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { readAll } from '../../helpers/read-all.ts';
import { assertRefused, collect, flipByte, repairAll } from './metadata-helpers.ts';

async function twoTopics(t: TestContext): Promise<{ dataDir: string; file: string }> {
  const dataDir = tmpDir(t, 'sluice-topic-damage-');
  const log = await openFileLog({ dataDir });
  try {
    await log.createTopic('bad', { partitions: 3, retentionMs: 1000 });
    await log.createTopic('good');
    await log.append('bad', 2, [{ key: null, value: Buffer.from('b') }]);
    await log.commitOffsets('g', [{ topic: 'bad', partition: 2, offset: 1 }]);
  } finally {
    await log.close();
  }
  return { dataDir, file: join(dataDir, 'topics', 'bad', 'topic.json') };
}

const damages: [string, (file: string) => void][] = [
  ['a flipped byte', (f) => flipByte(f, 1)],
  ['a truncation', (f) => fs.truncateSync(f, 20)],
  ['deletion', (f) => fs.rmSync(f)],
];

for (const [what, damage] of damages) {
  test(`${what} of a topic's topic.json refuses that topic only, naming the file; the repair keeps its partitions and id`, async (t) => {
    const { dataDir, file } = await twoTopics(t);
    damage(file);
    await assertRefused(file, { dataDir }, /topic\.json|topic directory/, (log) => log.append('bad', 0, [{ key: null, value: Buffer.from('x') }]));
    await assertRefused(file, { dataDir, readOnly: true }, /topic/, (log) => log.read('bad', 2, 0));
    const log = await openFileLog({ dataDir });
    try {
      await log.append('good', 0, [{ key: null, value: Buffer.from('ok') }]);
      assert.deepEqual((await log.listTopics()).map((x) => x.name), ['good']);
    } finally {
      await log.close();
    }
    const [d] = await collect(dataDir);
    assert.equal(d!.file, file);
    assert.match(d!.loss, /3 partitions/);
    await repairAll(dataDir);
    const again = await openFileLog({ dataDir });
    try {
      assert.equal((await again.getTopic('bad')).config.partitions, 3);
      assert.equal((await readAll(again, 'bad', 2)).length, 1);
      assert.deepEqual(await again.committedOffsets('g'), [{ topic: 'bad', partition: 2, offset: 1 }], 'offsets stamped with the old id still apply');
    } finally {
      await again.close();
    }
  });
}

test('a topic creation that fails midway leaves no topic, says which file, and the dir keeps working', async (t) => {
  const dataDir = tmpDir(t, 'sluice-topic-create-');
  const log = await openFileLog({ dataDir });
  try {
    await log.createTopic('first');
    // The 5th partition directory cannot be made: as ENOSPC or EMFILE would strike.
    const mkdir = fs.mkdirSync;
    let n = 0;
    t.mock.method(fs, 'mkdirSync', (p: fs.PathLike, o?: fs.MakeDirectoryOptions) => {
      if (String(p).includes('.creating-') && /\/\d+$/.test(String(p)) && ++n === 5) throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE', path: String(p) });
      return mkdir(p, o);
    });
    await assert.rejects(log.createTopic('big', { partitions: 8 }), (e) => {
      assert.ok(isSluiceError(e, 'IO_ERROR'), String(e));
      assert.match(e.message, /topic big was not created \(nothing of it is left\): cannot create .*topics\/big\/4: EMFILE .*ulimit -n/);
      return true;
    });
    t.mock.restoreAll();
    assert.deepEqual(fs.readdirSync(join(dataDir, 'topics')).sort(), ['first']);
    await log.createTopic('big', { partitions: 8 });
  } finally {
    setIo(realIo);
    await log.close();
  }
  const again = await openFileLog({ dataDir });
  await again.close();
});

test('leftovers of a creation a crash interrupted are removed on open, and were never a topic', async (t) => {
  const dataDir = tmpDir(t, 'sluice-topic-create-');
  let log = await openFileLog({ dataDir });
  await log.createTopic('t');
  await log.close();
  const leftover = join(dataDir, 'topics', '.creating-half-123');
  fs.mkdirSync(join(leftover, '0'), { recursive: true });
  log = await openFileLog({ dataDir, readOnly: true });
  assert.deepEqual((await log.listTopics()).map((x) => x.name), ['t']);
  await log.close();
  log = await openFileLog({ dataDir });
  await log.close();
  assert.equal(fs.existsSync(leftover), false);
});
