// The Consumer on any Log: all partitions or a group's share, fair polls,
// start positions, following with waitFor (no spinning), resets after
// retention, commits, rebalances, and a second handle following a writer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer, type ConsumerRecord } from '../../../src/log/consumer.ts';
import { isSluiceError } from '../../../src/errors.ts';
import type { Log } from '../../../src/log/log.ts';
import { Producer } from '../../../src/log/producer.ts';
import type { LogFactory } from './factory.ts';
import { needs, sleep, SpyLog, until, withLog } from './helpers.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));
const vals = (rs: ConsumerRecord[]) => rs.map((r) => text(r.value));

/** Topic `t` with `perPartition` records `p<p>-<i>` (timestamps 1000, 2000...) in each partition. */
async function setup(log: Log, partitions = 3, perPartition = 4): Promise<Log> {
  await log.createTopic('t', { partitions });
  for (let p = 0; p < partitions && perPartition > 0; p++) {
    await log.append('t', p, Array.from({ length: perPartition }, (_, i) => ({ key: null, value: utf8(`p${p}-${i}`), timestamp: 1000 * (i + 1) })));
  }
  return log;
}

async function drain(c: Consumer, max = 1000): Promise<ConsumerRecord[]> {
  const out: ConsumerRecord[] = [];
  while (!c.done && out.length < max) out.push(...(await c.poll()));
  return out;
}

export function consumerSuite(f: LogFactory): void {
  const name = (s: string) => `${f.name}: consumer: ${s}`;

  test(name('without a group: reads every partition, tagged, in order per partition, then done'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = await setup(s.log);
      const c = await Consumer.open(log, { topic: 't', stopAtEnd: true });
      const rs = await drain(c);
      assert.equal(rs.length, 12);
      for (let p = 0; p < 3; p++) {
        const mine = rs.filter((r) => r.partition === p);
        assert.deepEqual(vals(mine), [0, 1, 2, 3].map((i) => `p${p}-${i}`));
        assert.deepEqual(mine.map((r) => r.offset), [0, 1, 2, 3]);
        assert.ok(mine.every((r) => r.topic === 't'));
      }
      assert.equal(c.done, true);
      assert.deepEqual(await c.poll(), []);
      await c.close();
    });
  });

  test(name('poll is fair: each call starts at the next partition'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = await setup(s.log, 3, 10);
      const c = await Consumer.open(log, { topic: 't', maxRecords: 2 });
      const firsts = [];
      for (let i = 0; i < 3; i++) firsts.push((await c.poll())[0]!.partition);
      assert.deepEqual(firsts, [0, 1, 2]);
      await c.close();
    });
  });

  test(name('stopAtEnd stops at the end offsets as of start'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = await setup(s.log, 2, 2);
      const c = await Consumer.open(log, { topic: 't', stopAtEnd: true });
      await log.append('t', 0, [{ key: null, value: utf8('late') }]);
      const rs = await drain(c);
      assert.equal(rs.length, 4);
      assert.ok(!vals(rs).includes('late'));
      await c.close();
    });
  });

  test(name('maxRecords per poll advances positions only past what was returned'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = await setup(s.log, 1, 10);
      const c = await Consumer.open(log, { topic: 't' });
      const rs = await c.poll({ maxRecords: 3 });
      assert.deepEqual(rs.map((r) => r.offset), [0, 1, 2]);
      assert.deepEqual(c.positions(), [{ topic: 't', partition: 0, offset: 3 }]);
      await c.close();
    });
  });

  test(name('from: end, timestamp, and explicit offsets (which restrict partitions)'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = await setup(s.log, 2, 4);
      const end = await Consumer.open(log, { topic: 't', from: 'end', stopAtEnd: true });
      assert.equal(end.done, true);
      assert.deepEqual(await drain(end), []);
      await end.close();

      const ts = await Consumer.open(log, { topic: 't', from: { timestamp: 3000 }, stopAtEnd: true });
      assert.deepEqual(vals(await drain(ts)).sort(), ['p0-2', 'p0-3', 'p1-2', 'p1-3']);
      await ts.close();

      const offs = await Consumer.open(log, { topic: 't', from: { offsets: [{ partition: 1, offset: 1 }] }, stopAtEnd: true });
      assert.deepEqual(offs.assignment(), [{ topic: 't', partition: 1 }]);
      assert.deepEqual(vals(await drain(offs)), ['p1-1', 'p1-2', 'p1-3']);
      await offs.close();

      await assert.rejects(
        Consumer.open(log, { topic: 't', from: { offsets: [{ partition: 7, offset: 0 }] } }),
        (e) => isSluiceError(e, 'UNKNOWN_PARTITION'),
      );
    });
  });

  test(name('unknown topic fails with UNKNOWN_TOPIC'), async (t) => {
    await withLog(f, t, async ({ log }) => {
      await assert.rejects(Consumer.open(log, { topic: 'nope' }), (e) => isSluiceError(e, 'UNKNOWN_TOPIC'));
    });
  });

  test(name('follow: poll waits without spinning, wakes on append, and abort releases waiters'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = new SpyLog(await setup(s.log, 2, 0));
      const c = await Consumer.open(log, { topic: 't' });
      const pending = c.poll();
      await until(() => log.waiting('t', 0) === 1 && log.waiting('t', 1) === 1, 'the poll waits on both partitions');
      const readsWhileIdle = log.reads;
      await sleep(50);
      assert.equal(log.reads, readsWhileIdle, 'no reads while idle');
      await log.append('t', 1, [{ key: null, value: utf8('hello') }]);
      assert.deepEqual(vals(await pending), ['hello']);
      await until(() => log.waiting('t', 0) === 0 && log.waiting('t', 1) === 0, 'the woken poll released its waiters');

      const ac = new AbortController();
      const idle = c.poll({ signal: ac.signal });
      await until(() => log.waiting('t', 0) === 1, 'the second poll waits');
      assert.equal(log.waiting('t', 0), 1);
      ac.abort();
      assert.deepEqual(await idle, []);
      await until(() => log.waiting('t', 0) === 0 && log.waiting('t', 1) === 0, 'abort released the waiters');
      assert.deepEqual(await c.poll({ wait: false }), []);
      await c.close();
    });
  });

  test(name('OFFSET_OUT_OF_RANGE after retention resets to the start offset'), needs(f, 'maintain'), async (t) => {
    await withLog(f, t, async ({ log }) => {
      // One record per segment, so retention can delete all but the last one.
      await log.createTopic('t', { retentionMs: 60_000, file: { segmentBytes: 100 } });
      for (let i = 0; i < 6; i++) await log.append('t', 0, [{ key: null, value: utf8(`p0-${i}-${'x'.repeat(100)}`) }]);
      const c = await Consumer.open(log, { topic: 't' });
      assert.equal((await c.poll({ maxRecords: 1 })).length, 1);
      await f.maintain!(t, Date.now() + 61_000);
      const { startOffset } = (await log.describeTopic('t')).partitions[0]!;
      assert.ok(startOffset > 1, `retention deleted the consumer's position (start offset ${startOffset})`);
      const rest = await c.poll();
      assert.deepEqual(rest.map((r) => r.offset), Array.from({ length: 6 - startOffset }, (_, i) => startOffset + i));
      assert.deepEqual(vals(rest).map((v) => v!.slice(0, 4)), rest.map((r) => `p0-${r.offset}`));
      await c.close();
    });
  });

  test(name('group: starts at the beginning, commits what was handed out, and a new member resumes'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = await setup(s.log, 2, 3);
      const c1 = await Consumer.open(log, { topic: 't', group: 'g', stopAtEnd: true, heartbeatIntervalMs: 10_000 });
      const first = await c1.poll({ maxRecords: 2 });
      assert.equal(first.length, 2);
      await c1.commit();
      await c1.close();

      const c2 = await Consumer.open(log, { topic: 't', group: 'g', stopAtEnd: true, heartbeatIntervalMs: 10_000 });
      const rest = await drain(c2);
      assert.equal(first.length + rest.length, 6);
      assert.deepEqual(new Set([...vals(first), ...vals(rest)]).size, 6);
      await c2.commit();
      await c2.close();
      const committed = (await log.committedOffsets('g')).sort((a, b) => a.partition - b.partition);
      assert.deepEqual(committed.map((o) => o.offset), [3, 3]);

      // A group with committed offsets ignores `from`.
      const c3 = await Consumer.open(log, { topic: 't', group: 'g', from: 'beginning', stopAtEnd: true });
      assert.deepEqual(await drain(c3), []);
      await c3.close();

      // A new group uses `from` for partitions without a commit.
      const c4 = await Consumer.open(log, { topic: 't', group: 'h', from: 'end' });
      assert.deepEqual(c4.positions().map((p) => p.offset), [3, 3]);
      await c4.close();
    });
  });

  test(name('group: members split partitions; a heartbeat applies the new assignment'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = await setup(s.log, 4, 1);
      const a = await Consumer.open(log, { topic: 't', group: 'g', heartbeatIntervalMs: 10_000 });
      assert.equal(a.assignment().length, 4);
      const b = await Consumer.open(log, { topic: 't', group: 'g', heartbeatIntervalMs: 10_000 });
      await a.heartbeat();
      const pa = a.assignment().map((tp) => tp.partition);
      const pb = b.assignment().map((tp) => tp.partition);
      assert.equal(pa.length, 2);
      assert.equal(pb.length, 2);
      assert.deepEqual([...pa, ...pb].sort(), [0, 1, 2, 3]);

      // A waiting poll wakes up when the assignment changes.
      const ra = await a.poll();
      assert.equal(ra.length, 2);
      const waiting = a.poll();
      await b.close();
      await a.heartbeat();
      assert.equal(a.assignment().length, 4);
      const more = await waiting;
      assert.deepEqual(more.map((r) => r.partition).sort(), pb.sort());
      await a.commit();
      await a.close();
    });
  });

  test(name('close wakes a waiting poll, which resolves empty; later polls fail CLOSED'), async (t) => {
    await withLog(f, t, async (s) => {
      const log = await setup(s.log, 1, 0);
      const c = await Consumer.open(log, { topic: 't', group: 'g' });
      const waiting = c.poll();
      await c.close();
      assert.deepEqual(await waiting, []);
      await assert.rejects(c.poll(), (e) => isSluiceError(e, 'CLOSED'));
    });
  });

  // A second handle on the same data (a read-only FileLog beside the writer, as
  // `sluice consume --follow` opens it; a second client of the broker).
  test(name("a second handle follows the writer's appends; group offsets persist"), needs(f, 'openReader'), async (t) => {
    await withLog(f, t, async (s) => {
      const writer = s.log;
      await writer.createTopic('t', { partitions: 2 });
      const producer = new Producer(writer);
      await producer.send('t', [{ value: utf8('a'), partition: 0 }, { value: utf8('b'), partition: 1 }]);

      const reader = await s.reader();
      const c = await Consumer.open(reader, { topic: 't', group: 'g' });
      const first = [...(await c.poll()), ...(await c.poll({ wait: false }))];
      assert.deepEqual(vals(first).sort(), ['a', 'b']);
      const waiting = c.poll();
      await sleep(20);
      await producer.send('t', [{ value: utf8('c'), partition: 1 }]);
      assert.deepEqual(vals(await waiting), ['c']);
      await c.commit();
      await c.close();
      await s.close(reader);

      const again = await s.reader();
      const c2 = await Consumer.open(again, { topic: 't', group: 'g', stopAtEnd: true });
      assert.deepEqual(c2.positions().map((p) => p.offset), [1, 2]);
      assert.deepEqual(await drain(c2), []);
      await c2.close();
    });
  });
}
