// The Producer and BatchingProducer on any Log: partition choice, offsets per
// record, validation before writing, one parallel append per partition,
// batching and error surfacing. Appends are observed (and delayed or failed)
// through a SpyLog wrapped around the factory's log.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchingProducer, Producer } from '../../../src/log/producer.ts';
import { partitionForKey, Partitioner } from '../../../src/partitioner.ts';
import { isSluiceError } from '../../../src/errors.ts';
import type { LogFactory } from './factory.ts';
import { sleep, SpyLog, withLog } from './helpers.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

export function producerSuite(f: LogFactory): void {
  const name = (s: string) => `${f.name}: producer: ${s}`;

  test(name('send: key hash, explicit partition, round-robin; offsets per record in input order'), async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('t', { partitions: 4 });
      const producer = new Producer(log, { partitioner: new Partitioner(0) });
      const meta = await producer.send('t', [
        { key: utf8('a'), value: utf8('1') },
        { key: null, value: utf8('2') },
        { key: utf8('a'), value: utf8('3') },
        { value: utf8('4'), partition: 3 },
        { key: null, value: utf8('5') },
      ]);
      const pa = partitionForKey(utf8('a'), 4);
      assert.deepEqual([meta[0]!.partition, meta[2]!.partition], [pa, pa]);
      assert.deepEqual([meta[1]!.partition, meta[4]!.partition, meta[3]!.partition], [0, 1, 3]);
      // Offsets are dense per partition, in input order.
      const seen = new Map<number, number[]>();
      for (const m of meta) seen.set(m.partition, [...(seen.get(m.partition) ?? []), m.offset]);
      for (const offs of seen.values()) assert.deepEqual(offs, offs.map((_, i) => i));
      // What the metadata says is what the log holds.
      for (const [i, m] of meta.entries()) {
        const r = await log.read('t', m.partition, m.offset, { maxRecords: 1 });
        assert.equal(text(r.records[0]!.value), String(i + 1));
      }
    });
  });

  test(name('send keeps timestamps and headers'), async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('t', { partitions: 1 });
      const producer = new Producer(log);
      await producer.send('t', [{ key: null, value: utf8('x'), timestamp: 42, headers: { h: 'v' } }]);
      const r = await log.read('t', 0, 0);
      assert.equal(r.records[0]!.timestamp, 42);
      assert.deepEqual(r.records[0]!.headers, { h: 'v' });
    });
  });

  test(name('send validates explicit partitions before writing anything'), async (t) => {
    await withLog(f, t, async ({ log }) => {
      await log.createTopic('t', { partitions: 2 });
      const producer = new Producer(log);
      await assert.rejects(
        producer.send('t', [{ value: utf8('ok'), partition: 0 }, { value: utf8('bad'), partition: 2 }]),
        (e) => isSluiceError(e, 'UNKNOWN_PARTITION'),
      );
      assert.equal((await log.describeTopic('t')).partitions[0]!.endOffset, 0);
    });
  });

  test(name('send to an unknown topic fails with UNKNOWN_TOPIC'), async (t) => {
    await withLog(f, t, async ({ log }) => {
      const producer = new Producer(log);
      await assert.rejects(producer.send('nope', [{ value: null }]), (e) => isSluiceError(e, 'UNKNOWN_TOPIC'));
      assert.deepEqual(await producer.send('nope', []), []);
    });
  });

  test(name('send appends each partition once, in parallel'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = new SpyLog(s.log);
      await log.createTopic('t', { partitions: 3 });
      let calls = 0;
      let concurrent = 0;
      let maxConcurrent = 0;
      const append = log.append.bind(log);
      log.append = async (...args) => {
        calls++;
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await sleep(5);
        concurrent--;
        return append(...args);
      };
      const producer = new Producer(log, { partitioner: new Partitioner(0) });
      await producer.send('t', Array.from({ length: 9 }, (_, i) => ({ key: null, value: utf8(String(i)) })));
      assert.equal(calls, 3);
      assert.equal(maxConcurrent, 3);
    });
  });

  test(name('BatchingProducer: batches by count and bytes, keeps order, summarises'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = new SpyLog(s.log);
      await log.createTopic('t', { partitions: 2 });
      const sizes: number[] = [];
      const append = log.append.bind(log);
      log.append = (topic, p, recs) => {
        sizes.push(recs.length);
        return append(topic, p, recs);
      };
      const b = new BatchingProducer(new Producer(log), 't', { maxRecords: 10, maxBytes: 1 << 20 });
      for (let i = 0; i < 25; i++) {
        const wait = b.add({ value: utf8(String(i)), partition: 0 });
        if (wait) await wait;
      }
      assert.equal(b.buffered, 5);
      await b.flush();
      assert.deepEqual(sizes, [10, 10, 5]);
      const r = await log.read('t', 0, 0, { maxRecords: 100 });
      assert.deepEqual(r.records.map((x) => text(x.value)), Array.from({ length: 25 }, (_, i) => String(i)));
      assert.deepEqual(b.summary(), { records: 25, partitions: [{ partition: 0, records: 25, firstOffset: 0, lastOffset: 24 }] });

      const big = new BatchingProducer(new Producer(log), 't', { maxRecords: 1000, maxBytes: 100 });
      sizes.length = 0;
      for (let i = 0; i < 4; i++) {
        const wait = big.add({ value: new Uint8Array(60), partition: 1 });
        if (wait) await wait;
      }
      await big.flush();
      assert.deepEqual(sizes, [2, 2]);
    });
  });

  test(name('BatchingProducer: a failed send surfaces on the next add/flush; earlier sends stay'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = new SpyLog(s.log);
      await log.createTopic('t', { partitions: 1 });
      const append = log.append.bind(log);
      let n = 0;
      log.append = (topic, p, recs) => (++n === 2 ? Promise.reject(new Error('disk full')) : append(topic, p, recs));
      const b = new BatchingProducer(new Producer(log), 't', { maxRecords: 2 });
      const errors: unknown[] = [];
      for (let i = 0; i < 8; i++) {
        try {
          const wait = b.add({ value: utf8(String(i)) });
          if (wait) await wait;
        } catch (e) {
          errors.push(e);
          break;
        }
      }
      if (errors.length === 0) await assert.rejects(b.flush(), /disk full/);
      else assert.match(String(errors[0]), /disk full/);
      await assert.rejects(b.flush(), /disk full/);
      assert.equal(b.summary().records, 2);
    });
  });
}
