import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { GroupCoordinator } from '../../src/log/group-coordinator.ts';
import { isSluiceError } from '../../src/errors.ts';

test('committed offsets are durable, per group (fan-out), and survive a torn last commit', async () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-groups-'));
  try {
    let log = await openFileLog({ dataDir: dir });
    await log.createTopic('t', { partitions: 2 });
    await log.commitOffsets('billing', [{ topic: 't', partition: 0, offset: 5 }]);
    await log.commitOffsets('billing', [{ topic: 't', partition: 1, offset: 7 }]);
    await log.commitOffsets('billing', [{ topic: 't', partition: 0, offset: 9 }]);
    await log.commitOffsets('dashboard', [{ topic: 't', partition: 0, offset: 1 }]);
    await assert.rejects(log.commitOffsets('billing', [{ topic: 'nope', partition: 0, offset: 1 }]), (e) => isSluiceError(e, 'UNKNOWN_TOPIC'));
    await log.close();

    // A crash in the middle of a commit leaves a torn frame at the end: it is ignored.
    fs.appendFileSync(join(dir, 'groups', 'billing', 'offsets.log'), Buffer.from([0, 0, 0, 50, 1, 2, 3]));
    log = await openFileLog({ dataDir: dir });
    const sort = (a: { partition: number }, b: { partition: number }) => a.partition - b.partition;
    assert.deepEqual((await log.committedOffsets('billing')).sort(sort), [
      { topic: 't', partition: 0, offset: 9 },
      { topic: 't', partition: 1, offset: 7 },
    ]);
    assert.deepEqual(await log.committedOffsets('dashboard'), [{ topic: 't', partition: 0, offset: 1 }]);
    assert.deepEqual(await log.listGroups(), ['billing', 'dashboard']);
    await log.commitOffsets('billing', [{ topic: 't', partition: 1, offset: 8 }]);
    await log.close();
    log = await openFileLog({ dataDir: dir, readOnly: true });
    assert.equal((await log.committedOffsets('billing')).find((o) => o.partition === 1)?.offset, 8);
    const lag = (await log.describeTopic('t')).groups.find((g) => g.group === 'billing');
    assert.deepEqual(lag?.partitions.map((p) => p.committed), [9, 8]);
    await log.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('members of a group split partitions; a leave or a timeout rebalances; stale owners cannot commit', async () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-groups-'));
  const log = await openFileLog({ dataDir: dir });
  try {
    await log.createTopic('a', { partitions: 4 });
    await log.createTopic('b', { partitions: 2 });
    const m1 = await log.joinGroup('g', { topics: ['a', 'b'], memberId: 'm1' });
    assert.equal(m1.assignment().partitions.length, 6);
    const m2 = await log.joinGroup('g', { topics: ['a', 'b'], memberId: 'm2' });
    const a1 = await m1.heartbeat();
    const a2 = await m2.heartbeat();
    assert.equal(a1.generation, a2.generation);
    assert.equal(a1.partitions.length, 3);
    assert.equal(a2.partitions.length, 3);
    const all = [...a1.partitions, ...a2.partitions].map((tp) => `${tp.topic}/${tp.partition}`).sort();
    assert.deepEqual(all, ['a/0', 'a/1', 'a/2', 'a/3', 'b/0', 'b/1']);

    const mine = a2.partitions[0]!;
    await m2.commit([{ ...mine, offset: 3 }]);
    await assert.rejects(m1.commit([{ ...mine, offset: 99 }]), (e) => isSluiceError(e, 'REBALANCED'));
    await m2.leave();
    assert.equal((await m1.heartbeat()).partitions.length, 6);
    await m1.commit([{ ...mine, offset: 4 }]);
    assert.equal((await log.committedOffsets('g')).find((o) => o.topic === mine.topic && o.partition === mine.partition)?.offset, 4);
  } finally {
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
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

test('offsets committed for a deleted topic do not apply to a new topic of the same name', async () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'sluice-groups-'));
  const log = await openFileLog({ dataDir: dir });
  try {
    await log.createTopic('t');
    await log.append('t', 0, [{ key: null, value: Buffer.from('a') }, { key: null, value: Buffer.from('b') }]);
    await log.commitOffsets('g', [{ topic: 't', partition: 0, offset: 2 }]);
    assert.deepEqual(await log.committedOffsets('g'), [{ topic: 't', partition: 0, offset: 2 }]);
    await log.deleteTopic('t');
    assert.deepEqual(await log.committedOffsets('g'), [], 'no offsets for a topic that is gone');
    await log.createTopic('t');
    assert.deepEqual(await log.committedOffsets('g'), [], 'nor for its successor');
    assert.deepEqual((await log.describeTopic('t')).groups, []);
    await log.commitOffsets('g', [{ topic: 't', partition: 0, offset: 0 }]);
    assert.deepEqual(await log.committedOffsets('g'), [{ topic: 't', partition: 0, offset: 0 }]);
  } finally {
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
