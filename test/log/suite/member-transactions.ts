// Transactions that commit a group member's offsets (consume-transform-produce
// in a consumer group, Kafka's KIP-447): with the member named, the commit
// point checks that it still owns the partitions, so a member that missed a
// rebalance (a zombie) cannot commit output or offsets for a partition that
// moved, and nothing of its refused transaction is ever visible.

import { isDeepStrictEqual } from 'node:util';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSluiceError } from '../../../src/errors.ts';
import type { GroupMember, Log, TopicPartitionOffset, TransactionOffsets } from '../../../src/log/log.ts';
import type { LogFactory } from './factory.ts';
import { b, withLog } from './helpers.ts';
import { values } from './transactions.ts';

/** One output record and the group's offsets for `member`, read under `generation`. */
function txn(member: GroupMember, generation: number | undefined, value: string, offsets: TopicPartitionOffset[]) {
  const entry: TransactionOffsets = { group: member.group, offsets, member: { memberId: member.memberId, generation } };
  return { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b(value) }] }], offsets: [entry] };
}

const committedAt = async (log: Log, partition: number) => (await log.committedOffsets('g')).find((o) => o.topic === 'in' && o.partition === partition)?.offset;

export function memberTransactionSuite(f: LogFactory): void {
  test(`${f.name}: a member rebalanced away cannot commit a transaction for the moved partition (REBALANCED, nothing visible); the new owner can`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('in', { partitions: 2 });
      await log.createTopic('out');
      const m1 = await log.joinGroup('g', { topics: ['in'], memberId: 'm1' });
      const read1 = m1.assignment().generation;
      assert.equal(m1.assignment().partitions.length, 2);
      let p1 = await log.initProducer('worker-m1');
      // The current generation commits.
      await log.commitTransaction(p1, 1, txn(m1, read1, 'm1-a', [{ topic: 'in', partition: 0, offset: 1 }, { topic: 'in', partition: 1, offset: 1 }]));

      // m2 joins: in/1 moves to it. m1 has not heartbeat since, and commits for in/1 anyway.
      const m2 = await log.joinGroup('g', { topics: ['in'], memberId: 'm2' });
      assert.deepEqual(m2.assignment().partitions, [{ topic: 'in', partition: 1 }]);
      await assert.rejects(
        log.commitTransaction(p1, 2, txn(m1, read1, 'zombie', [{ topic: 'in', partition: 1, offset: 5 }])),
        (e) => isSluiceError(e, 'REBALANCED') && isDeepStrictEqual(e.details, { group: 'g', memberId: 'm1', topic: 'in', partition: 1 }),
      );
      assert.equal(await committedAt(log, 1), 1, 'the refused offsets were not committed');
      assert.deepEqual(await values(log, 'out', 0), ['m1-a'], 'its record is not visible to read_committed');
      // A refused transaction is a failed one: the producer must register again.
      await assert.rejects(log.commitTransaction(p1, 3, txn(m1, read1, 'x', [])), (e) => isSluiceError(e, 'FENCED') && e.details['reason'] === 'failed');

      // The new owner commits in/1, with its own producer; the zombie's record stays dead behind it.
      const p2 = await log.initProducer('worker-m2');
      const read2 = m2.assignment().generation;
      await log.commitTransaction(p2, 1, txn(m2, read2, 'm2-b', [{ topic: 'in', partition: 1, offset: 2 }]));
      assert.deepEqual(await values(log, 'out', 0), ['m1-a', 'm2-b']);
      assert.equal(await committedAt(log, 1), 2);

      // m1, up to date again, commits in/0, which it has owned throughout: under its first
      // generation too, since in/0 never left it.
      assert.equal((await m1.heartbeat()).generation, read2);
      p1 = await log.initProducer('worker-m1');
      await log.commitTransaction(p1, 1, txn(m1, read1, 'm1-c', [{ topic: 'in', partition: 0, offset: 3 }]));
      assert.equal(await committedAt(log, 0), 3);

      // m2 leaves: in/1 comes back to m1, but records m1 read before (under read2) were m2's
      // to process meanwhile, so that generation may not commit them; the new one may.
      await m2.leave();
      const back = await m1.heartbeat();
      assert.equal(back.partitions.length, 2);
      await assert.rejects(
        log.commitTransaction(p1, 2, txn(m1, read2, 'stale', [{ topic: 'in', partition: 1, offset: 9 }])),
        // The generation named is what is refused: in/1 is m1's again, but only since a later one.
        (e) => isSluiceError(e, 'REBALANCED') && isDeepStrictEqual(e.details, { group: 'g', memberId: 'm1', topic: 'in', partition: 1, generation: read2 }),
      );
      p1 = await log.initProducer('worker-m1');
      await log.commitTransaction(p1, 1, txn(m1, back.generation, 'm1-d', [{ topic: 'in', partition: 1, offset: 4 }]));
      // Without a generation, current ownership is what counts (as for GroupMember.commit).
      await log.commitTransaction(p1, 2, txn(m1, undefined, 'm1-e', [{ topic: 'in', partition: 0, offset: 5 }]));
      assert.deepEqual(await values(log, 'out', 0), ['m1-a', 'm2-b', 'm1-c', 'm1-d', 'm1-e']);
      assert.deepEqual(
        (await log.committedOffsets('g')).map((o) => [o.partition, o.offset]).sort((x, y) => x[0]! - y[0]!),
        [[0, 5], [1, 4]],
      );
      await m1.leave();
    });
  });

  test(`${f.name}: a transaction naming a member that left, or none, of a group: refused with the member, unchecked without`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('in');
      await log.createTopic('out');
      const m = await log.joinGroup('g', { topics: ['in'], memberId: 'gone' });
      const generation = m.assignment().generation;
      await m.leave();
      const p = await log.initProducer('worker');
      await assert.rejects(log.commitTransaction(p, 1, txn(m, generation, 'late', [{ topic: 'in', partition: 0, offset: 1 }])), (e) => isSluiceError(e, 'REBALANCED'));
      // Rejoining under the same id is a new incarnation: the old generation does not carry over.
      const again = await log.joinGroup('g', { topics: ['in'], memberId: 'gone' });
      const q = await log.initProducer('worker');
      await assert.rejects(log.commitTransaction(q, 1, txn(again, generation, 'late', [{ topic: 'in', partition: 0, offset: 1 }])), (e) => isSluiceError(e, 'REBALANCED'));
      await again.leave();
      // A job's transaction (no member) is not checked against membership: it is fenced by its transactional id.
      const job = await log.initProducer('job');
      await log.commitTransaction(job, 1, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b('job') }] }], offsets: [{ group: 'g', offsets: [{ topic: 'in', partition: 0, offset: 7 }] }] });
      assert.deepEqual(await values(log, 'out', 0), ['job']);
      assert.deepEqual(await log.committedOffsets('g'), [{ topic: 'in', partition: 0, offset: 7 }]);
    });
  });
}
