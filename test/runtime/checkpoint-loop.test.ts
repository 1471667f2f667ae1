// The checkpoint loop the dataflow job and exec share (src/runtime/checkpoint-loop.ts),
// on a real file log: participants' contributions become one transaction, in
// participant order; committed() runs only once it is durable; a participant
// that awaits its commit holds the checkpoint until then; a newer instance fences.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { isSluiceError } from '../../src/errors.ts';
import { CheckpointLoop, CheckpointSchedule, checkpointBody, type CheckpointParticipant } from '../../src/runtime/checkpoint-loop.ts';
import { readAll } from '../helpers/read-all.ts';
import { tmpDir } from '../helpers/tmp.ts';

const b = (s: string) => Buffer.from(s);
const str = (u: Uint8Array | null) => (u === null ? null : Buffer.from(u).toString());

test('writes of several participants to one partition become one write, in participant order; offsets follow', () => {
  const body = checkpointBody([
    { writes: [{ topic: 'out', partition: 1, records: [{ key: null, value: b('a1') }] }, { topic: 'journal', partition: 0, records: [{ key: null, value: b('j') }] }] },
    {},
    { writes: [{ topic: 'out', partition: 1, records: [{ key: null, value: b('b1') }] }, { topic: 'out', partition: 0, records: [{ key: null, value: b('b0') }] }], offsets: [{ group: 'g', offsets: [{ topic: 'in', partition: 0, offset: 5 }] }] },
  ]);
  assert.ok(body);
  assert.deepEqual(
    body.writes.map((w) => [w.topic, w.partition, w.records.map((r) => str(r.value))]),
    [
      ['out', 1, ['a1', 'b1']],
      ['journal', 0, ['j']],
      ['out', 0, ['b0']],
    ],
  );
  assert.deepEqual(body.offsets, [{ group: 'g', offsets: [{ topic: 'in', partition: 0, offset: 5 }] }]);
  assert.equal(checkpointBody([{}, { writes: [], offsets: [] }]), null, 'nothing contributed: no transaction');
});

test('a checkpoint commits its participants together, runs committed() once durable, and a newer instance fences the older', async (t) => {
  const log = await openFileLog({ dataDir: tmpDir(t, 'sluice-ckpt-loop-') });
  try {
    await log.createTopic('out', { partitions: 1 });
    await log.createTopic('in', { partitions: 1 });
    const loop = new CheckpointLoop(log, 'sluice-job:loop-test');
    await loop.fence();
    const events: string[] = [];
    let n = 0;
    const writer = (name: string): CheckpointParticipant => ({
      prepare: () => {
        events.push(`prepare ${name}`);
        return { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b(`${name}${n}`) }] }] };
      },
      committed: () => void events.push(`committed ${name}`),
    });
    const offsets: CheckpointParticipant = { prepare: () => ({ offsets: [{ group: 'loop-test', offsets: [{ topic: 'in', partition: 0, offset: 10 * ++n }] }] }) };
    await loop.take([writer('a'), writer('b'), offsets]);
    await loop.settle();
    assert.deepEqual(events, ['prepare a', 'prepare b', 'committed a', 'committed b']);
    assert.deepEqual((await readAll(log, 'out', 0)).map((r) => str(r.value)), ['a0', 'b0']);
    assert.equal((await log.committedOffsets('loop-test')).find((o) => o.topic === 'in')?.offset, 10);

    // Awaiting participants hold take() until durable; the others return before committed() has run.
    events.length = 0;
    const waiting: CheckpointParticipant = { prepare: () => ({}), committed: () => void events.push('committed waiting'), awaitsCommit: true };
    await loop.take([writer('a'), waiting]);
    assert.deepEqual(events, ['prepare a', 'committed a', 'committed waiting']);

    const newer = new CheckpointLoop(log, 'sluice-job:loop-test');
    await newer.fence();
    await loop.take([writer('zombie')]);
    await assert.rejects(loop.settle(), (e) => isSluiceError(e, 'FENCED'), 'the older instance cannot commit');
    assert.deepEqual((await readAll(log, 'out', 0)).map((r) => str(r.value)), ['a0', 'b0', 'a1'], 'nothing of the fenced checkpoint is visible');
  } finally {
    await log.close();
  }
});

test('a checkpoint is due by the interval once anything waits, or at once at the record bound', () => {
  const s = new CheckpointSchedule(100, 1000, 0);
  assert.equal(s.due(500), false, 'nothing waits: never due');
  assert.equal(s.dueIn(500), Infinity);
  assert.equal(s.due(50, true), false);
  assert.equal(s.dueIn(50, true), 50, 'something waits that add() did not count (exec\'s programs)');
  s.add(10);
  assert.equal(s.due(99), false);
  assert.equal(s.due(100), true);
  s.add(990);
  assert.equal(s.due(1), true, 'the record bound');
  s.taken(200);
  assert.equal(s.due(10_000), false);
  s.add(1);
  assert.equal(s.dueIn(250), 50);
});
