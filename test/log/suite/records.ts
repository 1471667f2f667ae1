// Topics, appends and reads, offsets, maxBytes, seeking by timestamp, waitFor,
// fsync policies: the basic Log contract, on any implementation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSluiceError } from '../../../src/errors.ts';
import type { Log } from '../../../src/log/log.ts';
import { MAX_TIMESTAMP, type LogRecord } from '../../../src/record.ts';
import { Producer } from '../../../src/log/producer.ts';
import { readAll as readPartition } from '../../helpers/read-all.ts';
import type { LogFactory } from './factory.ts';
import { b, sleep, withLog } from './helpers.ts';

const str = (r: LogRecord) => (r.value ? Buffer.from(r.value).toString() : null);

function readAll(log: Log, topic: string, partition: number, from = 0): Promise<LogRecord[]> {
  return readPartition(log, topic, partition, { from, maxRecords: 37 });
}

export function recordSuite(f: LogFactory): void {
  test(`${f.name}: topics: create, list, get, describe, delete, and clear errors`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('orders', { partitions: 3 });
      await log.createTopic('a.b_c-d');
      assert.deepEqual((await log.listTopics()).map((t) => t.name), ['a.b_c-d', 'orders']);
      assert.equal((await log.getTopic('orders')).config.partitions, 3);
      assert.equal((await log.getTopic('orders')).config.file?.fsync, 'always');
      await assert.rejects(log.createTopic('orders'), (e) => isSluiceError(e, 'TOPIC_EXISTS'));
      await assert.rejects(log.createTopic('../evil'), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
      await assert.rejects(log.createTopic('x', { partitions: 0 }), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && e.details['field'] === 'partitions');
      await assert.rejects(log.getTopic('nope'), (e) => isSluiceError(e, 'UNKNOWN_TOPIC') && e.details.topic === 'nope');
      await assert.rejects(log.append('orders', 3, [{ key: null, value: b('x') }]), (e) => isSluiceError(e, 'UNKNOWN_PARTITION'));
      const d = await log.describeTopic('orders');
      assert.deepEqual(d.partitions.map((p) => [p.partition, p.startOffset, p.endOffset]), [[0, 0, 0], [1, 0, 0], [2, 0, 0]]);
      assert.deepEqual(await log.endOffsets('orders'), [0, 1, 2].map((partition) => ({ partition, startOffset: 0, endOffset: 0 })));
      await assert.rejects(log.endOffsets('nope'), (e) => isSluiceError(e, 'UNKNOWN_TOPIC'));
      await log.deleteTopic('orders');
      assert.deepEqual((await log.listTopics()).map((t) => t.name), ['a.b_c-d']);
      await assert.rejects(log.read('orders', 0, 0), (e) => isSluiceError(e, 'UNKNOWN_TOPIC'));
      await log.createTopic('orders', { partitions: 1 });
      assert.equal((await log.describeTopic('orders')).partitions[0]!.endOffset, 0);
    });
  });

  test(`${f.name}: appends get dense offsets; reads return them across segment rolls and after reopen`, async (t) => {
    await withLog(f, t, async (s) => {
      let log = s.log;
      await log.createTopic('t', { partitions: 2, file: { segmentBytes: 2000 } });
      for (let i = 0; i < 40; i++) {
        const r = await log.append('t', 1, Array.from({ length: 5 }, (_, j) => ({ key: b(`k${j}`), value: b(`v${i * 5 + j}`), timestamp: 10_000 + i * 5 + j })));
        assert.deepEqual(r, { baseOffset: i * 5, lastOffset: i * 5 + 4 });
      }
      const d = await log.describeTopic('t');
      assert.ok(d.partitions[1]!.segments! > 3, 'small segmentBytes rolls segments');
      assert.equal(d.partitions[1]!.endOffset, 200);
      assert.equal(d.partitions[0]!.endOffset, 0);
      assert.deepEqual(await log.endOffsets('t'), [{ partition: 0, startOffset: 0, endOffset: 0 }, { partition: 1, startOffset: 0, endOffset: 200 }]);
      const all = await readAll(log, 't', 1);
      assert.deepEqual(all.map((r) => r.offset), Array.from({ length: 200 }, (_, i) => i));
      assert.deepEqual(all.map(str), Array.from({ length: 200 }, (_, i) => `v${i}`));
      assert.equal(Buffer.from(all[7]!.key!).toString(), 'k2');
      // A read from the middle of a batch starts at exactly that offset.
      const mid = await log.read('t', 1, 123, { maxRecords: 2 });
      assert.deepEqual(mid.records.map(str), ['v123', 'v124']);
      assert.equal(mid.nextOffset, 125);

      log = await s.restart();
      assert.deepEqual((await readAll(log, 't', 1, 150)).map(str), Array.from({ length: 50 }, (_, i) => `v${150 + i}`));
      const r = await log.append('t', 1, [{ key: null, value: b('after') }]);
      assert.equal(r.baseOffset, 200);
      await assert.rejects(log.read('t', 1, 202), (e) => isSluiceError(e, 'OFFSET_OUT_OF_RANGE') && e.details.offset === 202);
    });
  });

  test(`${f.name}: concurrent appends share writes (group commit) and keep per-call order`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('t');
      const calls = Array.from({ length: 200 }, (_, i) => log.append('t', 0, [{ key: null, value: b(`a${i}`) }, { key: null, value: b(`b${i}`) }]));
      const results = await Promise.all(calls);
      results.forEach((r, i) => assert.deepEqual(r, { baseOffset: 2 * i, lastOffset: 2 * i + 1 }));
      const all = await readAll(log, 't', 0);
      assert.deepEqual(all.map(str), results.flatMap((_, i) => [`a${i}`, `b${i}`]));
    });
  });

  test(`${f.name}: maxBytes bounds a read but always returns at least one batch`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('t');
      await log.append('t', 0, Array.from({ length: 100 }, () => ({ key: null, value: Buffer.alloc(100, 1) })));
      await log.append('t', 0, Array.from({ length: 100 }, () => ({ key: null, value: Buffer.alloc(100, 2) })));
      const r = await log.read('t', 0, 0, { maxBytes: 10 });
      assert.equal(r.records.length, 100);
      assert.equal(r.nextOffset, 100);
    });
  });

  test(`${f.name}: seek by timestamp finds the first record at or after it, with out-of-order timestamps`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('t', { file: { segmentBytes: 3000 } });
      // Timestamps mostly rise, with stragglers: offset i has ts 1000 + 10*i, except every 7th is 500 earlier.
      const ts = (i: number) => 1000 + 10 * i - (i % 7 === 0 ? 500 : 0);
      for (let i = 0; i < 300; i += 3) {
        await log.append('t', 0, [0, 1, 2].map((j) => ({ key: null, value: b(String(i + j)), timestamp: ts(i + j) })));
      }
      const all = await readAll(log, 't', 0);
      for (const target of [0, 999, 1000, 1001, 1500, 2345, 3990, 3991, 10_000]) {
        const expected = all.find((r) => r.timestamp >= target)?.offset ?? 300;
        assert.equal(await log.offsetForTimestamp('t', 0, target), expected, `ts ${target}`);
      }
    });
  });

  // (Moved from recovery.test.ts: the file log scans big batches in chunks.)
  test(`${f.name}: seek by timestamp into a batch larger than 1 MiB`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('rec', { partitions: 1 });
      const rec = (i: number, padLen = 40) => ({ key: b(`key-${i}`), value: b(JSON.stringify({ i, pad: 'x'.repeat(padLen) })), timestamp: 1_000_000 + i * 10 });
      await log.append('rec', 0, [rec(0), rec(1, 2 * 1024 * 1024), rec(2)]);
      assert.equal(await log.offsetForTimestamp('rec', 0, rec(1).timestamp), 1);
    });
  });

  test(`${f.name}: waitFor resolves on a later append, and on abort, without polling`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('t');
      let woke = false;
      const w = log.waitFor('t', 0, 0).then(() => (woke = true));
      await sleep(20);
      assert.equal(woke, false);
      await log.append('t', 0, [{ key: null, value: b('x') }]);
      await w;
      assert.equal(woke, true);
      await log.waitFor('t', 0, 0); // already there: immediate
      const ac = new AbortController();
      const pending = log.waitFor('t', 0, 5, ac.signal);
      ac.abort();
      await pending;
    });
  });

  test(`${f.name}: fsync never and interval policies acknowledge and persist records`, async (t) => {
    await withLog(f, t, async (s) => {
      let log = s.log;
      await log.createTopic('never', { file: { fsync: 'never' } });
      await log.createTopic('interval', { file: { fsync: { intervalMs: 5 } } });
      await log.append('never', 0, [{ key: null, value: b('n') }]);
      await log.append('interval', 0, [{ key: null, value: b('i') }]);
      log = await s.restart();
      assert.deepEqual((await log.read('never', 0, 0)).records.map(str), ['n']);
      assert.deepEqual((await log.read('interval', 0, 0)).records.map(str), ['i']);
      assert.deepEqual((await log.getTopic('interval')).config.file?.fsync, { intervalMs: 5 });
    });
  });

  test(`${f.name}: a small maxBytes never stalls a reader, and limits the format cannot hold are refused`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('small', { partitions: 1 });
      for (let i = 0; i < 40; i++) await log.append('small', 0, [{ key: null, value: b(`${i}`.padStart(300, '.')) }]);
      // Reading from the middle of the index's range with maxBytes below what lies before the offset.
      const r = await log.read('small', 0, 5, { maxBytes: 1000 });
      assert.ok(r.records.length >= 1, 'at least one record comes back, however small maxBytes is');
      assert.equal(r.records[0]!.offset, 5);
      assert.ok(r.nextOffset > 5);
      await assert.rejects(log.append('small', 0, [{ key: null, value: b('x'), headers: { ['h'.repeat(70_000)]: 'v' } }]), (e) => isSluiceError(e, 'TOO_LARGE'));
      assert.equal((await log.describeTopic('small')).partitions[0]!.endOffset, 40, 'nothing appended');
      for (const group of ['', '.', '..', 'g'.repeat(300)]) {
        await assert.rejects(log.commitOffsets(group, [{ topic: 'small', partition: 0, offset: 1 }]), (e) => isSluiceError(e, 'INVALID_ARGUMENT'), `group ${JSON.stringify(group.slice(0, 5))}`);
      }
      assert.deepEqual(await log.listGroups(), []);
    });
  });

  // Issue 13: +Infinity was stored and later printed as invalid JSON; over the
  // remote log a NaN silently became the append time.
  test(`${f.name}: timestamps: integer ms from 0 to ${MAX_TIMESTAMP} are kept; anything else is refused naming the record`, async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('ts', { partitions: 2 });
      await log.append('ts', 0, [
        { key: null, value: b('first'), timestamp: 0 },
        { key: null, value: b('last'), timestamp: MAX_TIMESTAMP },
      ]);
      const producer = new Producer(log);
      for (const bad of [Infinity, -Infinity, NaN, -1, 1.5, MAX_TIMESTAMP + 1]) {
        const refused = (e: unknown) => isSluiceError(e, 'INVALID_ARGUMENT') && e.details['record'] === 1;
        await assert.rejects(log.append('ts', 0, [{ key: null, value: b('ok') }, { key: null, value: b('bad'), timestamp: bad }]), refused, `append, timestamp ${bad}`);
        // Nothing of a send is appended when one record is bad, whichever partition it goes to.
        const send = [{ key: null, value: b('ok'), partition: 1 }, { key: null, value: b('bad'), partition: 0, timestamp: bad }];
        await assert.rejects(producer.send('ts', send), refused, `send, timestamp ${bad}`);
      }
      assert.deepEqual((await readAll(log, 'ts', 0)).map((r) => [str(r), r.timestamp]), [['first', 0], ['last', MAX_TIMESTAMP]]);
      assert.deepEqual(await readAll(log, 'ts', 1), []);
    });
  });
}
