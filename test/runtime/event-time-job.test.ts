// Event time in a running job on the embedded log: a quiet partition stops
// holding the watermark back after its idle timeout, so windows over the busy
// partitions still close; `sluice time` shows the watermark per partition.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { Job } from '../../src/runtime/job.ts';
import { json } from '../../src/codec.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { topicSink, topicSource } from '../../src/connectors/index.ts';
import { tumbling, type WindowResult } from '../../src/dataflow/windows.ts';
import type { SourceNode } from '../../src/dataflow/graph.ts';
import { readAll } from '../helpers/read-all.ts';
import { runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

interface Reading {
  ts: number;
  sensor: string;
}

function app(idleTimeoutMs: number): Application {
  const a = new Application('idle-partitions', { partitions: 2 });
  a.pipeline('p')
    .from(topicSource({ topic: 'readings' }), json<Reading>(), { timestamp: (r) => r.ts, watermark: { idleTimeoutMs } })
    .keyBy((r) => r.sensor)
    .window(tumbling(1000))
    .count({ name: 'per-second' })
    .to(topicSink({ topic: 'counts' }), json);
  return a;
}

const enc = (v: unknown) => Buffer.from(JSON.stringify(v));

async function finals(log: Awaited<ReturnType<typeof openFileLog>>): Promise<WindowResult<number>[]> {
  return (await readAll(log, 'counts', 0)).map((r) => JSON.parse(Buffer.from(r.value!).toString()) as WindowResult<number>);
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a quiet partition stops holding the watermark back after its idle timeout; windows on the busy one close', async (t) => {
  const dir = tmpDir(t, 'sluice-idle-');
  const log = await openFileLog({ dataDir: dir });
  const stop = new AbortController();
  let job: Promise<unknown> | null = null;
  try {
    await log.createTopic('readings', { partitions: 2 });
    await log.createTopic('counts', { partitions: 1 });
    // Partition 1 has an old reading, then nothing more: without idleness it would pin the watermark at 500.
    await log.append('readings', 1, [{ key: null, value: enc({ ts: 500, sensor: 'b' }) }]);
    // Partition 0 stays busy: a reading every 50 ms, 100 ms of event time apart.
    let ts = 1000;
    const feeder = setInterval(() => {
      void log.append('readings', 0, [{ key: null, value: enc({ ts, sensor: 'a' }) }]);
      ts += 100;
    }, 50);
    job = new Job(app(400), { log, signal: stop.signal, commitIntervalMs: 20 }).run();
    try {
      await until('the windows of partition 0 to close', 20_000, async () => (await finals(log)).some((r) => r.start === 2000));
    } finally {
      clearInterval(feeder);
    }
    const got = await finals(log);
    // Once partition 1 is idle the watermark follows partition 0 alone: windows close as its readings pass them.
    assert.deepEqual(
      got.slice(0, 3).map((r) => `${r.key} ${r.start} ${r.value} ${r.kind}`),
      ['b 0 1 final', 'a 1000 10 final', 'a 2000 10 final'],
    );

    // Data on the quiet partition again: it rejoins, but the watermark never goes back; its late reading is dropped and counted.
    await log.append('readings', 1, [{ key: null, value: enc({ ts: 2100, sensor: 'b' }) }]);
    await log.append('readings', 0, [{ key: null, value: enc({ ts: 50_000, sensor: 'a' }) }]);
    await until('the late reading to be counted', 10_000, async () => {
      const r = await runCli(['time', 'idle-partitions', '--json'], { dataDir: dir });
      return r.code === 0 && /late-dropped/.test(r.stdout);
    });
    const time = JSON.parse((await runCli(['time', 'idle-partitions', '--json'], { dataDir: dir })).stdout) as {
      watermark: number;
      partitions: { origin: string; maxTimestamp: number }[];
      counters: Record<string, Record<string, number>>;
    };
    assert.deepEqual(time.counters, { 'per-second': { 'late-dropped': 1 } });
    assert.deepEqual(time.partitions.map((p) => `${p.origin} ${p.maxTimestamp}`).sort(), ['topic:readings/0 50000', 'topic:readings/1 2100']);
    assert.ok(time.watermark >= 3000, `the watermark never went back (${time.watermark})`);
    const text = (await runCli(['time', 'idle-partitions'], { dataDir: dir })).stdout;
    assert.match(text, /topic:readings\/0 \(topic readings\): latest event 1970-01-01T00:00:50\.000Z \(50000\)/);
  } finally {
    stop.abort();
    await job;
    await log.close();
  }
});

test('a partition with data waiting is never declared idle, however long the job stalls', async () => {
  const { EventClock } = await import('../../src/runtime/engine/event-clock.ts');
  const waiting = new Set(['p1']);
  const source = { name: 's', open: async () => {}, next: async () => null, commit: async () => {}, close: async () => {}, caughtUp: (o: string) => !waiting.has(o) };
  const node: SourceNode = { kind: 'source', id: 1, name: 's', children: [], source, codec: { decode: () => null }, watermark: { maxOutOfOrderMs: 0, idleTimeoutMs: 100 } };
  const clock = new EventClock([node], 0);
  clock.declareOrigins(node, ['p0', 'p1'], 0);
  const ev = (ts: number) => ({ value: null, key: null, partition: -1, timestamp: ts, watermark: 0, headers: {}, seq: 0, origin: '', position: 0 });
  clock.stamp(node, 'p0', [ev(1000)], 0);
  clock.stamp(node, 'p1', [ev(10)], 0);
  assert.equal(clock.watermark, 10);
  // A long stall, then p0 delivers first: p1 has data waiting, so it still holds the watermark.
  clock.tick(60_000);
  clock.stamp(node, 'p0', [ev(2000)], 60_000);
  assert.equal(clock.tick(60_001), false);
  assert.equal(clock.watermark, 10, 'p1 with data waiting is not idle');
  waiting.delete('p1'); // its last read found nothing: now it may go idle
  assert.equal(clock.tick(60_002), true);
  assert.equal(clock.watermark, 2000);
});
