// File-log-only group tests (the group tests of the Log interface are in
// test/log/suite/groups.ts): a torn offset commit in the group's file, and the
// coordinator's assignment logic as a unit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { GroupCoordinator } from '../../src/log/group-coordinator.ts';
import { isSluiceError } from '../../src/errors.ts';
import { tmpDir } from '../helpers/tmp.ts';

test('a torn last offset commit (a crash mid-write) is ignored on open', async (t) => {
  const dir = tmpDir(t, 'sluice-groups-');
  let log = await openFileLog({ dataDir: dir });
  try {
    await log.createTopic('t', { partitions: 2 });
    await log.commitOffsets('billing', [{ topic: 't', partition: 0, offset: 5 }]);
    await log.commitOffsets('billing', [{ topic: 't', partition: 1, offset: 7 }]);
    await log.commitOffsets('billing', [{ topic: 't', partition: 0, offset: 9 }]);
    await log.close();

    // A crash in the middle of a commit leaves a torn frame at the end: it is ignored.
    fs.appendFileSync(join(dir, 'groups', 'billing', 'offsets.log'), Buffer.from([0, 0, 0, 50, 1, 2, 3]));
    log = await openFileLog({ dataDir: dir });
    const sort = (a: { partition: number }, b: { partition: number }) => a.partition - b.partition;
    assert.deepEqual((await log.committedOffsets('billing')).sort(sort), [
      { topic: 't', partition: 0, offset: 9 },
      { topic: 't', partition: 1, offset: 7 },
    ]);
    // Commits after it are appended after the cut, and read back.
    await log.commitOffsets('billing', [{ topic: 't', partition: 1, offset: 8 }]);
    await log.close();
    log = await openFileLog({ dataDir: dir, readOnly: true });
    assert.equal((await log.committedOffsets('billing')).find((o) => o.partition === 1)?.offset, 8);
  } finally {
    await log.close();
  }
});

test('the coordinator expires silent members after their session timeout', () => {
  let now = 0;
  const c = new GroupCoordinator(() => 3, () => now);
  c.join('g', ['t'], 'a', 1000);
  c.join('g', ['t'], 'b', 1000);
  assert.equal(c.heartbeat('g', 'a').partitions.length + c.heartbeat('g', 'b').partitions.length, 3);
  now = 900;
  c.heartbeat('g', 'a');
  now = 1500; // b last seen at 0
  assert.equal(c.heartbeat('g', 'a').partitions.length, 3);
  assert.throws(() => c.heartbeat('g', 'b'), (e) => isSluiceError(e, 'REBALANCED'));
  assert.deepEqual(c.members('g'), ['a']);
});

test('assignment is deterministic and balanced', () => {
  const c = new GroupCoordinator((t) => (t === 'x' ? 5 : 3));
  for (const id of ['m3', 'm1', 'm2']) c.join('g', ['x', 'y'], id);
  const counts = ['m1', 'm2', 'm3'].map((id) => c.heartbeat('g', id).partitions.length);
  assert.deepEqual(counts, [3, 3, 2]);
  const again = new GroupCoordinator((t) => (t === 'x' ? 5 : 3));
  for (const id of ['m1', 'm2', 'm3']) again.join('g', ['x', 'y'], id);
  for (const id of ['m1', 'm2', 'm3']) assert.deepEqual(again.heartbeat('g', id).partitions, c.heartbeat('g', id).partitions);
});

