// Damage to a consumer group's offsets (issue 13): a flipped byte or a
// truncation below the synced length must not rewind the group (to offset 0)
// nor be cut off as a torn tail; it refuses that group only, naming the file,
// and changes nothing. A torn final frame recovers silently.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { openFileLog } from '../../../src/log/file/file-log.ts';
import { encodeFrame } from '../../../src/log/file/json-frames.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { assertRefused, collect, flipByte, repairAll } from './metadata-helpers.ts';

const COMMITS = 50;

/** Groups `g` (COMMITS commits of t/0, the last at offset COMMITS) and `other` (one commit). */
async function committed(t: TestContext): Promise<{ dataDir: string; file: string }> {
  const dataDir = tmpDir(t, 'sluice-group-damage-');
  const log = await openFileLog({ dataDir });
  try {
    await log.createTopic('t');
    for (let i = 1; i <= COMMITS; i++) await log.commitOffsets('g', [{ topic: 't', partition: 0, offset: i }]);
    await log.commitOffsets('other', [{ topic: 't', partition: 0, offset: 7 }]);
  } finally {
    await log.close();
  }
  return { dataDir, file: join(dataDir, 'groups', 'g', 'offsets.log') };
}

async function offsetOf(dataDir: string, group: string): Promise<number | undefined> {
  const log = await openFileLog({ dataDir, readOnly: true });
  try {
    return (await log.committedOffsets(group))[0]?.offset;
  } finally {
    await log.close();
  }
}

test('a flipped byte in offsets.log refuses that group only (never rewinds it); the repair keeps the newest readable offset', async (t) => {
  const { dataDir, file } = await committed(t);
  flipByte(file, Math.floor(fs.statSync(file).size / 2));
  await assertRefused(file, { dataDir }, /CRC mismatch|claims \d+ bytes/, (log) => log.committedOffsets('g'));
  await assertRefused(file, { dataDir }, /consumer group|CRC/, (log) => log.commitOffsets('g', [{ topic: 't', partition: 0, offset: 99 }]));
  await assertRefused(file, { dataDir, readOnly: true }, /CRC|claims/, (log) => log.committedOffsets('g'));
  assert.equal(await offsetOf(dataDir, 'other'), 7, 'other groups are unaffected');
  const [d] = await collect(dataDir);
  assert.match(d!.loss, /group "g".*t\/0@50/);
  await repairAll(dataDir);
  assert.equal(await offsetOf(dataDir, 'g'), COMMITS, 'the newest commit is after the damage, so nothing is lost');
});

test('offsets.log truncated in the middle is refused; a torn final frame recovers silently', async (t) => {
  const { dataDir, file } = await committed(t);
  const size = fs.statSync(file).size;
  fs.truncateSync(file, Math.floor(size / 2));
  await assertRefused(file, { dataDir }, /it was truncated/, (log) => log.committedOffsets('g'));
  await repairAll(dataDir);
  const kept = await offsetOf(dataDir, 'g');
  assert.ok(kept !== undefined && kept > 0 && kept < COMMITS, `an older offset, as the repair said (${kept})`);

  const torn = encodeFrame([['t', 0, 1000]]);
  const { dataDir: d2, file: f2 } = await committed(t);
  fs.appendFileSync(f2, torn.subarray(0, 10));
  assert.equal(await offsetOf(d2, 'g'), COMMITS);
  fs.truncateSync(f2, fs.statSync(f2).size - 12); // into the last acknowledged frame: the header never claimed it
  assert.equal(await offsetOf(d2, 'g'), COMMITS - 1);
});

test('a deleted offsets.log in a group directory is refused, not read as "no offsets"', async (t) => {
  const { dataDir, file } = await committed(t);
  fs.rmSync(file);
  fs.writeFileSync(join(dataDir, 'groups', 'g', 'stray'), ''); // the directory still has something in it
  await assertRefused(file, { dataDir }, /offsets file is missing/, (log) => log.committedOffsets('g'));
});
