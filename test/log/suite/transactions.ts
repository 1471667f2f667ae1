// Transactions and idempotent appends on any Log: atomic commits with group
// offsets, isolation levels, fencing (FENCED), retries that do not duplicate.
// What happens between a transaction's writes and its commit point (and when
// the commit point fails) needs fault injection: see file-log-transactions.test.ts.

import { isDeepStrictEqual } from 'node:util';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSluiceError } from '../../../src/errors.ts';
import type { Isolation, Log } from '../../../src/log/log.ts';
import type { LogFactory } from './factory.ts';
import { b, str, withLog } from './helpers.ts';

export async function values(log: Log, topic: string, partition: number, isolation: Isolation = 'read_committed'): Promise<string[]> {
  const out: string[] = [];
  let offset = 0;
  for (;;) {
    const r = await log.read(topic, partition, offset, { isolation });
    out.push(...r.records.map((x) => str(x.value)!));
    if (r.nextOffset >= r.highWatermark) return out;
    offset = r.nextOffset;
  }
}

export function transactionSuite(f: LogFactory): void {
  test(`${f.name}: a transaction appends to several partitions and commits group offsets, all visible once it resolves`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('in');
      await log.createTopic('out', { partitions: 2 });
      await log.append('in', 0, [{ key: null, value: b('i0') }, { key: null, value: b('i1') }]);
      await log.append('out', 1, [{ key: null, value: b('plain') }]);
      const producer = await log.initProducer('job-a');
      assert.equal(producer.transactionalId, 'job-a');
      const waiting = log.waitFor('out', 0, 0, undefined, 'read_committed');
      const result = await log.commitTransaction(producer, 1, {
        writes: [
          { topic: 'out', partition: 0, records: [{ key: null, value: b('a') }] },
          { topic: 'out', partition: 1, records: [{ key: null, value: b('b') }, { key: null, value: b('c') }] },
        ],
        offsets: [{ group: 'job-a', offsets: [{ topic: 'in', partition: 0, offset: 2 }] }],
      });
      await waiting;
      assert.deepEqual(result.appended.map((a) => [a.topic, a.partition, a.baseOffset, a.lastOffset]), [['out', 0, 0, 0], ['out', 1, 1, 2]]);
      for (const isolation of ['read_committed', 'read_uncommitted'] as const) {
        assert.deepEqual(await values(log, 'out', 0, isolation), ['a'], isolation);
        assert.deepEqual(await values(log, 'out', 1, isolation), ['plain', 'b', 'c'], isolation);
      }
      assert.deepEqual(await log.committedOffsets('job-a'), [{ topic: 'in', partition: 0, offset: 2 }]);
    });
  });

  test(`${f.name}: a new instance fences the old one: the zombie cannot commit`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('out');
      const zombie = await log.initProducer('job-c');
      await log.commitTransaction(zombie, 1, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b('1') }] }], offsets: [] });
      const fresh = await log.initProducer('job-c');
      assert.equal(fresh.producerId, zombie.producerId);
      assert.equal(fresh.epoch, zombie.epoch + 1);
      await assert.rejects(
        log.commitTransaction(zombie, 2, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b('zombie') }] }], offsets: [] }),
        (e) => isSluiceError(e, 'FENCED') && isDeepStrictEqual(e.details, { transactionalId: 'job-c', epoch: zombie.epoch, reason: 'replaced', currentEpoch: fresh.epoch }),
      );
      await log.commitTransaction(fresh, 1, { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b('2') }] }], offsets: [] });
      assert.deepEqual(await values(log, 'out', 0), ['1', '2']);
    });
  });

  test(`${f.name}: retrying a commit or a stamped append does not duplicate it`, async (t) => {
    await withLog(f, t, async (s) => {
      let log = s.log;
      await log.createTopic('out');
      const p = await log.initProducer('job-d');
      const body = { writes: [{ topic: 'out', partition: 0, records: [{ key: null, value: b('once') }] }], offsets: [] };
      const first = await log.commitTransaction(p, 1, body);
      const retry = await log.commitTransaction(p, 1, body);
      assert.deepEqual(retry, first);
      await assert.rejects(log.commitTransaction(p, 5, body), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
      assert.deepEqual(await values(log, 'out', 0), ['once']);

      const stamp = { producerId: 99, epoch: 0, sequence: 1 };
      const a1 = await log.append('out', 0, [{ key: null, value: b('x') }], { producer: stamp });
      const a2 = await log.append('out', 0, [{ key: null, value: b('x') }], { producer: stamp });
      assert.deepEqual(a2, a1);
      // The idempotence window survives a restart (the file log rebuilds it from the active segment).
      log = await s.restart();
      assert.deepEqual(await log.append('out', 0, [{ key: null, value: b('x') }], { producer: stamp }), a1);
      await assert.rejects(log.append('out', 0, [{ key: null, value: b('y') }], { producer: { ...stamp, sequence: 0 } }), /sequences must increase/);
      assert.deepEqual(await values(log, 'out', 0), ['once', 'x']);
    });
  });

  test(`${f.name}: a retried stamped append does not duplicate after a restart, even once its segment has rolled`, async (t) => {
    await withLog(f, t, async (s) => {
      let log = s.log;
      await log.createTopic('rolled', { file: { segmentBytes: 4096 } });
      const stamp = { producerId: 42, epoch: 0, sequence: 7 };
      const first = await log.append('rolled', 0, [{ key: null, value: b('stamped') }], { producer: stamp });
      // Another producer's appends roll the stamped batch's segment away from the active one.
      for (let i = 0; i < 40; i++) await log.append('rolled', 0, [{ key: null, value: b(`other-${i}-${'p'.repeat(300)}`) }], { producer: { producerId: 43, epoch: 0, sequence: i } });
      log = await s.restart();
      assert.deepEqual(await log.append('rolled', 0, [{ key: null, value: b('stamped') }], { producer: stamp }), first, 'the retry gets the first append\'s offsets');
      await assert.rejects(log.append('rolled', 0, [{ key: null, value: b('old') }], { producer: { ...stamp, sequence: 3 } }), /sequences must increase/);
      const all = await values(log, 'rolled', 0);
      assert.equal(all.length, 41);
      assert.equal(all.filter((v) => v === 'stamped').length, 1);
    });
  });
}
