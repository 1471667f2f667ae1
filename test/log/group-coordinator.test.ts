// The group coordinator as a unit (forgetting empty groups, the sweep,
// ownership by generation), and what the file log does around it: sweeping
// groups whose members all died, and a new owner's committedOffsets waiting
// for a transaction already past its membership check. The Log-level tests of
// member transactions are in test/log/suite/member-transactions.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { realIo, setIo } from '../../src/log/file/io.ts';
import { GroupCoordinator } from '../../src/log/group-coordinator.ts';
import { isSluiceError } from '../../src/errors.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { sleep, until } from './suite/helpers.ts';

const rebalanced = (e: unknown) => isSluiceError(e, 'REBALANCED');
const tp = (partition: number) => ({ topic: 't', partition });

test('a group is forgotten when its last member leaves or expires; generations never repeat', () => {
  let now = 0;
  const c = new GroupCoordinator(() => 2, () => now);
  const first = c.join('g', ['t'], 'a', 1000).assignment.generation;
  c.leave('g', 'a');
  assert.equal(c.groupCount, 0);
  assert.deepEqual(c.members('g'), []);
  assert.throws(() => c.heartbeat('g', 'a'), rebalanced);
  assert.throws(() => c.checkOwnership('g', 'a', [tp(0)]), rebalanced);
  assert.equal(c.groupCount, 0, 'looking a group up does not bring it back');

  const again = c.join('g', ['t'], 'a', 1000).assignment.generation;
  assert.ok(again > first, `a group formed again starts past its old generations (${again} > ${first})`);
  c.join('h', ['t'], 'x', 5000);
  now = 1500;
  // Nobody in g heartbeats: only a sweep finds a dead; h's member is within its timeout.
  assert.equal(c.sweep(), 1);
  assert.equal(c.groupCount, 1);
  assert.deepEqual(c.members('h'), ['x']);
  now = 7000;
  assert.equal(c.sweep(), 0);
  assert.equal(c.groupCount, 0);
});

test('the sweep rebalances the survivors of a group at once', () => {
  let now = 0;
  const c = new GroupCoordinator(() => 4, () => now);
  c.join('g', ['t'], 'a', 1000);
  c.join('g', ['t'], 'b', 1000);
  const before = c.heartbeat('g', 'a');
  assert.equal(before.partitions.length, 2);
  now = 800;
  c.heartbeat('g', 'a');
  now = 1500;
  c.sweep();
  assert.deepEqual(c.members('g'), ['a']);
  c.checkOwnership('g', 'a', [0, 1, 2, 3].map(tp));
});

test('ownership by generation: kept across unrelated rebalances, lost by moving away and back or by joining again', () => {
  const c = new GroupCoordinator(() => 2);
  const g1 = c.join('g', ['t'], 'a').assignment.generation;
  const g2 = c.join('g', ['t'], 'b').assignment.generation; // a keeps t/0, t/1 goes to b
  c.checkOwnership('g', 'a', [tp(0)], g1);
  c.checkOwnership('g', 'a', [tp(0)], g2);
  assert.throws(() => c.checkOwnership('g', 'a', [tp(1)], g1), (e) => rebalanced(e) && /no longer owns t\/1/.test((e as Error).message));
  c.join('g', ['u'], 'c'); // another topic: nothing of t moves
  c.checkOwnership('g', 'a', [tp(0)], g1);
  c.leave('g', 'b');
  const g4 = c.heartbeat('g', 'a').generation;
  c.checkOwnership('g', 'a', [tp(0), tp(1)]);
  assert.throws(() => c.checkOwnership('g', 'a', [tp(1)], g1), (e) => rebalanced(e) && /only since generation/.test((e as Error).message), 't/1 was b\'s in between');
  c.checkOwnership('g', 'a', [tp(0), tp(1)], g4);
  assert.throws(() => c.checkOwnership('g', 'a', [tp(0)], g4 + 1000), rebalanced, 'a generation the group never had');
  // The same id joining again is a new incarnation (a restarted process): its earlier generations are void.
  const g5 = c.join('g', ['t'], 'a').assignment.generation;
  assert.throws(() => c.checkOwnership('g', 'a', [tp(0)], g4), rebalanced);
  c.checkOwnership('g', 'a', [tp(0)], g5);
});

test('the file log sweeps a group whose members all died, and stops sweeping', async (t) => {
  const log = await openFileLog({ dataDir: tmpDir(t, 'sluice-coord-') });
  try {
    await log.createTopic('t');
    await log.joinGroup('g', { topics: ['t'], sessionTimeoutMs: 1 });
    assert.deepEqual(log.groupActivity(), { groups: 1, sweeping: true });
    await until(() => log.groupActivity().groups === 0, 'the dead member\'s group is swept');
    await until(() => !log.groupActivity().sweeping, 'the sweeper stops with no groups left');
    const m = await log.joinGroup('g', { topics: ['t'] });
    assert.equal(m.assignment().partitions.length, 1);
    await m.leave();
  } finally {
    await log.close();
  }
});

/** Holds fdatasync of the transaction log (so a commit stays undecided at its commit record) until released. */
function holdTxnLogSync(): { reached: Promise<void>; release: () => void } {
  const held: (() => void)[] = [];
  let released = false;
  let reached = () => {};
  const reachedP = new Promise<void>((r) => (reached = r));
  const isTxnLog = (fd: number) => fs.readlinkSync(`/proc/self/fd/${fd}`).endsWith('txn.log');
  setIo({ ...realIo, fdatasync: (fd) => (!released && isTxnLog(fd) ? new Promise<void>((r) => (held.push(r), reached())).then(() => realIo.fdatasync(fd)) : realIo.fdatasync(fd)) });
  return { reached: reachedP, release: () => ((released = true), held.forEach((r) => r())) };
}

test('a new owner\'s committedOffsets waits for a transaction that passed its membership check, so it starts after it', async (t) => {
  const log: FileLog = await openFileLog({ dataDir: tmpDir(t, 'sluice-coord-') });
  try {
    await log.createTopic('in');
    await log.createTopic('out');
    const m1 = await log.joinGroup('g', { topics: ['in'], memberId: 'm1' });
    const p = await log.initProducer('worker-m1');
    const hold = holdTxnLogSync();
    const committing = log.commitTransaction(p, 1, {
      writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: Buffer.from('x') }] }],
      offsets: [{ group: 'g', offsets: [{ topic: 'in', partition: 0, offset: 3 }], member: { memberId: m1.memberId, generation: m1.assignment().generation } }],
    });
    await hold.reached; // past the check, writing its commit record
    await m1.leave();
    const m2 = await log.joinGroup('g', { topics: ['in'], memberId: 'm2' });
    assert.equal(m2.assignment().partitions.length, 1);
    let fetched: unknown = null;
    const fetching = log.committedOffsets('g').then((o) => (fetched = o));
    await sleep(20);
    assert.equal(fetched, null, 'the offsets are not read while a transaction past its check is undecided');
    hold.release();
    await committing;
    await fetching;
    assert.deepEqual(fetched, [{ topic: 'in', partition: 0, offset: 3 }], 'the new owner starts after the transaction');
    await m2.leave();
  } finally {
    setIo(realIo);
    await log.close();
  }
});
