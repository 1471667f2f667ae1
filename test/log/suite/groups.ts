// Consumer groups on any Log: committed offsets (per group, durable, gone with
// their topic) and live membership (assignment, rebalance, REBALANCED).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSluiceError } from '../../../src/errors.ts';
import type { LogFactory } from './factory.ts';
import { b, withLog } from './helpers.ts';

const byPartition = (a: { partition: number }, b: { partition: number }) => a.partition - b.partition;

export function groupSuite(f: LogFactory): void {
  test(`${f.name}: committed offsets are durable, per group (fan-out), and show as lag`, async (t) => {
    await withLog(f, t, async (s) => {
      let log = s.log;
      await log.createTopic('t', { partitions: 2 });
      await log.commitOffsets('billing', [{ topic: 't', partition: 0, offset: 5 }]);
      await log.commitOffsets('billing', [{ topic: 't', partition: 1, offset: 7 }]);
      await log.commitOffsets('billing', [{ topic: 't', partition: 0, offset: 9 }]);
      await log.commitOffsets('dashboard', [{ topic: 't', partition: 0, offset: 1 }]);
      await assert.rejects(log.commitOffsets('billing', [{ topic: 'nope', partition: 0, offset: 1 }]), (e) => isSluiceError(e, 'UNKNOWN_TOPIC'));

      log = await s.restart();
      assert.deepEqual((await log.committedOffsets('billing')).sort(byPartition), [
        { topic: 't', partition: 0, offset: 9 },
        { topic: 't', partition: 1, offset: 7 },
      ]);
      assert.deepEqual(await log.committedOffsets('dashboard'), [{ topic: 't', partition: 0, offset: 1 }]);
      assert.deepEqual(await log.listGroups(), ['billing', 'dashboard']);
      await log.commitOffsets('billing', [{ topic: 't', partition: 1, offset: 8 }]);

      log = await s.restart();
      // Another handle (a read-only reader of the files, a second client) sees the same offsets.
      const view = f.openReader ? await s.reader() : log;
      assert.equal((await view.committedOffsets('billing')).find((o) => o.partition === 1)?.offset, 8);
      const lag = (await view.describeTopic('t')).groups.find((g) => g.group === 'billing');
      assert.deepEqual(lag?.partitions.map((p) => p.committed), [9, 8]);
    });
  });

  test(`${f.name}: members of a group split partitions; a leave or a timeout rebalances; stale owners cannot commit`, async (t) => {
    await withLog(f, t, async ({ log }) => {
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
      await m1.leave();
    });
  });

  test(`${f.name}: offsets committed for a deleted topic do not apply to a new topic of the same name`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('t');
      await log.append('t', 0, [{ key: null, value: b('a') }, { key: null, value: b('b') }]);
      await log.commitOffsets('g', [{ topic: 't', partition: 0, offset: 2 }]);
      assert.deepEqual(await log.committedOffsets('g'), [{ topic: 't', partition: 0, offset: 2 }]);
      await log.deleteTopic('t');
      assert.deepEqual(await log.committedOffsets('g'), [], 'no offsets for a topic that is gone');
      await log.createTopic('t');
      assert.deepEqual(await log.committedOffsets('g'), [], 'nor for its successor');
      assert.deepEqual((await log.describeTopic('t')).groups, []);
      await log.commitOffsets('g', [{ topic: 't', partition: 0, offset: 0 }]);
      assert.deepEqual(await log.committedOffsets('g'), [{ topic: 't', partition: 0, offset: 0 }]);
    });
  });
}
