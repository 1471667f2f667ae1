import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import type { Log } from '../../src/log/log.ts';
import { partitionForKey } from '../../src/partitioner.ts';
import { isSluiceError, SluiceError } from '../../src/errors.ts';
import { topicSink, topicSource } from '../../src/connectors/index.ts';
import type { SinkRecord } from '../../src/dataflow/io.ts';
import { readAll } from '../helpers/read-all.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { drain, sinkCtx, sourceCtx, take, text, tick, utf8, values } from './helpers.ts';

async function withLog(t: TestContext, fn: (log: FileLog) => Promise<void>): Promise<void> {
  const log = await openFileLog({ dataDir: tmpDir(t) });
  try {
    await fn(log);
  } finally {
    await log.close();
  }
}

async function fill(log: Log, topic: string, partitions: number, perPartition: number): Promise<void> {
  await log.createTopic(topic, { partitions, file: { fsync: 'never' } });
  for (let p = 0; p < partitions; p++) {
    await log.append(topic, p, Array.from({ length: perPartition }, (_, i) => ({ key: null, value: utf8(`p${p}-${i}`), timestamp: 1000 + i, headers: { n: String(i) } })));
  }
}

test('topic source: batches from one partition each, in order, origin topic:NAME/P and position = first offset; untilEnd stops at the end as of open', async (t) => {
  await withLog(t, async (log) => {
    await fill(log, 'in', 3, 25);
    const src = topicSource({ topic: 'in' });
    await src.open(sourceCtx({ log, untilEnd: true, maxBatchRecords: 10 }));
    await log.append('in', 0, [{ key: null, value: utf8('after-open') }]);
    const batches = await drain(src);
    const seen = new Map<number, string[]>();
    for (const b of batches) {
      const m = /^topic:in\/(\d)$/.exec(b.origin);
      assert.ok(m, b.origin);
      const p = Number(m[1]);
      assert.ok(b.records.length <= 10);
      const vals = b.records.map((r) => text(r.value)!);
      assert.ok(vals.every((v) => v.startsWith(`p${p}-`)), 'one partition per batch');
      assert.equal(vals[0], `p${p}-${b.position}`, 'position is the offset of the first record');
      seen.set(p, [...(seen.get(p) ?? []), ...vals]);
    }
    for (let p = 0; p < 3; p++) assert.deepEqual(seen.get(p), Array.from({ length: 25 }, (_, i) => `p${p}-${i}`));
    assert.equal(batches[0]!.records[0]!.headers.n, '0');
    assert.equal(batches[0]!.records[0]!.timestamp, 1000);
    await src.close();
  });
});

test('topic source: the group (default: the job name) resumes after what was committed; partitions are visited in a fixed rotation', async (t) => {
  await withLog(t, async (log) => {
    await fill(log, 'in', 2, 30);
    const ctx = sourceCtx({ log, job: 'counter', maxBatchRecords: 20 });
    const a = topicSource({ topic: 'in' });
    await a.open(ctx);
    const ac = new AbortController();
    const first = (await a.next(ac.signal))!;
    const second = (await a.next(ac.signal))!;
    // The rotation: partition 0, then 1, then 0 again, whatever the timing.
    assert.deepEqual([first.origin, second.origin], ['topic:in/0', 'topic:in/1']);
    assert.deepEqual(a.checkpoint(), {
      offsets: { group: 'counter', offsets: [{ topic: 'in', partition: 0, offset: 20 }, { topic: 'in', partition: 1, offset: 20 }] },
      state: { turn: 0 },
    });
    await a.commit();
    const third = (await a.next(ac.signal))!;
    assert.equal(third.origin, 'topic:in/0');
    await a.close(); // the third batch was never committed

    const b = topicSource({ topic: 'in' });
    await b.open({ ...ctx, untilEnd: true });
    const rest = await drain(b);
    assert.deepEqual(rest.map((x) => [x.origin, x.position]), [['topic:in/0', 20], ['topic:in/1', 20]], 'resumes after the commit, re-reading the uncommitted batch');
    await b.close();

    // restore() puts the rotation where a checkpoint left it.
    const c = topicSource({ topic: 'in' });
    await c.open({ ...ctx, untilEnd: true });
    c.restore({ turn: 1 });
    assert.equal((await c.next(ac.signal))!.origin, 'topic:in/1');
    await c.close();

    // A different group is independent; 'end' starts at the end.
    const d = topicSource({ topic: 'in', group: 'late', from: 'end' });
    await d.open({ ...ctx, untilEnd: true });
    assert.deepEqual(await drain(d), []);
    await d.close();
  });
});

test('topic source: several topics; next() resolves null when aborted while waiting; unknown topic fails open', async (t) => {
  await withLog(t, async (log) => {
    await fill(log, 'x', 1, 2);
    await fill(log, 'y', 1, 2);
    const src = topicSource({ topic: ['x', 'y'] });
    await src.open(sourceCtx({ log }));
    const got = await take(src, 4);
    assert.deepEqual(new Set(got.map((b) => b.origin)), new Set(['topic:x/0', 'topic:y/0']));
    const ac = new AbortController();
    const waiting = src.next(ac.signal);
    await tick(20);
    ac.abort();
    assert.equal(await waiting, null);
    await src.close();
    await assert.rejects(topicSource({ topic: 'nope' }).open(sourceCtx({ log })), (e) => isSluiceError(e, 'UNKNOWN_TOPIC'));
  });
  assert.throws(() => topicSource({ topic: [] }), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => topicSource({ topic: 'a', from: 'middle' as 'end' }), (e) => isSluiceError(e, 'INVALID_ARGUMENT') && /from/.test(e.message));
  assert.throws(() => topicSink({ topic: '' }), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
});

const rec = (k: string | null, v: string, timestamp = 5): SinkRecord => ({ key: k === null ? null : utf8(k), value: utf8(v), timestamp, headers: { h: v } });

test('topic sink: key-hash partitioning by default, a custom partition function, timestamps and headers kept', async (t) => {
  await withLog(t, async (log) => {
    await log.createTopic('out', { partitions: 4, file: { fsync: 'never' } });
    const sink = topicSink({ topic: 'out' });
    await sink.open(sinkCtx({ log }));
    await sink.write(['a', 'b', 'c', 'a'].map((k, i) => rec(k, `${k}${i}`, 100 + i)));
    await sink.flush();
    for (const k of ['a', 'b', 'c']) {
      const recs = await readAll(log, 'out', partitionForKey(utf8(k), 4));
      assert.ok(recs.some((r) => text(r.value)!.startsWith(k)));
    }
    const pa = await readAll(log, 'out', partitionForKey(utf8('a'), 4));
    const as = pa.filter((r) => text(r.key) === 'a');
    assert.deepEqual(as.map((r) => [text(r.value), r.timestamp, r.headers.h]), [['a0', 100, 'a0'], ['a3', 103, 'a3']]);
    await sink.close();

    const custom = topicSink({ topic: 'out', partition: (r) => text(r.value)!.length % 4 });
    await custom.open(sinkCtx({ log }));
    await custom.write([rec(null, 'xyz'), rec('k', 'x')]);
    await custom.close(); // close flushes
    assert.equal(text((await readAll(log, 'out', 3)).at(-1)!.value), 'xyz');
    assert.equal(text((await readAll(log, 'out', 1)).at(-1)!.value), 'x');

    const bad = topicSink({ topic: 'out', partition: () => 9 });
    await bad.open(sinkCtx({ log }));
    await bad.write([rec(null, 'v')]);
    await assert.rejects(bad.flush(), (e) => isSluiceError(e, 'UNKNOWN_PARTITION'));
    await assert.rejects(topicSink({ topic: 'missing' }).open(sinkCtx({ log })), (e) => isSluiceError(e, 'UNKNOWN_TOPIC'));
  });
});

/** The log with append gated: appends wait until `open()`; counts records appended but not yet acknowledged. */
function gatedLog(log: Log) {
  let release: () => void = () => {};
  let gate = new Promise<void>((r) => (release = r));
  let fail: Error | null = null;
  const state = { inflight: 0, acked: 0 };
  const proxy = new Proxy(log, {
    get(target, prop) {
      if (prop === 'append') {
        return async (...args: Parameters<Log['append']>) => {
          state.inflight += args[2].length;
          try {
            await gate;
            if (fail) throw fail;
            return await target.append(...args);
          } finally {
            state.inflight -= args[2].length;
            state.acked += args[2].length;
          }
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    log: proxy,
    state,
    open: () => release(),
    close: () => (gate = new Promise<void>((r) => (release = r))),
    failWith: (e: Error) => (fail = e),
  };
}

test('topic sink backpressure: a slow log append makes write() wait, keeping buffered records under the bound; then all arrive in order', async (t) => {
  await withLog(t, async (real) => {
    await real.createTopic('out', { partitions: 1, file: { fsync: 'never' } });
    const g = gatedLog(real);
    const bound = 100;
    const sink = topicSink({ topic: 'out', maxBufferedRecords: bound });
    await sink.open(sinkCtx({ log: g.log }));
    const total = 5000;
    let i = 0;
    const batch = () => Array.from({ length: 50 }, () => rec(null, String(i++)));
    // With the log stalled, writes soon stop resolving.
    let resolvedWhileStalled = 0;
    let pending: Promise<void> | null = null;
    for (;;) {
      let done = false;
      const w = sink.write(batch()).then(() => {
        done = true;
      });
      await tick(30);
      if (!done) {
        pending = w;
        break;
      }
      resolvedWhileStalled++;
      assert.ok(resolvedWhileStalled < 20, 'write() kept resolving with the log stalled');
    }
    assert.ok(sink.buffered <= bound, `buffered ${sink.buffered}`);
    assert.ok(g.state.inflight <= bound, `in flight ${g.state.inflight}`);
    // Let appends through, slowly, and write the rest; the bound holds at every write.
    g.open();
    await pending;
    let maxHeld = 0;
    while (i < total) {
      await sink.write(batch());
      maxHeld = Math.max(maxHeld, sink.buffered + g.state.inflight);
    }
    await sink.flush();
    assert.ok(maxHeld <= 2 * bound, `held ${maxHeld} records (buffer + one append in flight), bound ${bound}`);
    const stored = await readAll(real, 'out', 0, { maxRecords: 1000 });
    assert.deepEqual(stored.map((r) => Number(text(r.value))), Array.from({ length: total }, (_, k) => k));
    await sink.close();
  });
});

test('topic sink: a failed append surfaces on a later write or flush, never swallowed', async (t) => {
  await withLog(t, async (real) => {
    await real.createTopic('out', { partitions: 1, file: { fsync: 'never' } });
    const g = gatedLog(real);
    g.open();
    g.failWith(new SluiceError('IO_ERROR', 'disk on fire'));
    const sink = topicSink({ topic: 'out', maxBufferedRecords: 10 });
    await sink.open(sinkCtx({ log: g.log }));
    const writes = async () => {
      for (let k = 0; k < 100; k++) await sink.write([rec(null, String(k))]);
    };
    await assert.rejects(writes(), (e) => isSluiceError(e, 'IO_ERROR') && /disk on fire/.test(e.message));
    await assert.rejects(sink.flush(), /disk on fire/);
    await assert.rejects(sink.close(), /disk on fire/);
  });
});

test('topic sink → topic source round trip through a real file log', async (t) => {
  await withLog(t, async (log) => {
    await log.createTopic('rt', { partitions: 3, file: { fsync: 'never' } });
    const sink = topicSink({ topic: 'rt' });
    await sink.open(sinkCtx({ log }));
    const keys = Array.from({ length: 300 }, (_, k) => `k${k % 17}`);
    await sink.write(keys.map((k, n) => rec(k, `${k}:${n}`)));
    await sink.close();
    const src = topicSource({ topic: 'rt' });
    await src.open(sourceCtx({ log, untilEnd: true }));
    const got = values(await drain(src));
    assert.equal(got.length, 300);
    // Per key, order is kept (one key, one partition).
    for (let k = 0; k < 17; k++) {
      const mine = got.filter((v) => v!.startsWith(`k${k}:`)).map((v) => Number(v!.split(':')[1]));
      assert.deepEqual(mine, [...mine].sort((x, y) => x - y));
    }
    await src.close();
  });
});
