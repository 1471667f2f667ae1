// A keyed job stopped and restarted in-process, many times, ends with exactly
// the reference output. A checkpoint that committed outputs without the input
// offsets (inputs read again: duplicates) or offsets without the outputs or the
// state (lost outputs, counts that restart) fails it — in seconds, without the
// e2e kill loops.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../../src/dataflow/application.ts';
import { runJob } from '../../src/runtime/job.ts';
import { json } from '../../src/codec.ts';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { topicSink, topicSource } from '../../src/connectors/index.ts';
import { readAll } from '../helpers/read-all.ts';
import { tmpDir } from '../helpers/tmp.ts';

interface Ev {
  k: string;
  i: number;
}
interface Out {
  k: string;
  n: number;
  i: number;
}

const KEYS = 13;
const EVENTS = 3_000;

function app(onEvent: () => void): Application {
  const a = new Application('restart', { partitions: 3 });
  a.pipeline('p')
    .from(topicSource({ topic: 'in' }), json<Ev>())
    .map((e) => (onEvent(), e))
    .keyBy((e) => e.k)
    .process(
      () => ({ n: 0 }),
      (e, state, ctx) => {
        state.n++;
        ctx.emit({ k: e.k, n: state.n, i: e.i });
      },
      { name: 'count' },
    )
    .to(topicSink({ topic: 'out' }), json);
  return a;
}

test('a keyed job stopped and restarted 8 times emits every count exactly once, in input order per key', async (t) => {
  const dir = tmpDir(t, 'sluice-restart-');
  const log = await openFileLog({ dataDir: dir });
  try {
    await restartLoop(log);
  } finally {
    await log.close();
  }
});

async function restartLoop(log: FileLog): Promise<void> {
  await log.createTopic('in', { partitions: 2 });
  await log.createTopic('out', { partitions: 2 });
  const enc = new TextEncoder();
  for (let p = 0; p < 2; p++) {
    const records = [];
    for (let i = p; i < EVENTS; i += 2) records.push({ key: null, value: enc.encode(JSON.stringify({ k: `k${i % KEYS}`, i })), timestamp: i, headers: {} });
    await log.append('in', p, records);
  }

  // Each run stops itself after a different number of events, mid-batch and between checkpoints.
  const stops = [1, 97, 350, 123, 611, 5, 404, 250];
  for (const stopAt of stops) {
    const ac = new AbortController();
    let seen = 0;
    await runJob(app(() => { if (++seen === stopAt) ac.abort(); }), { log, signal: ac.signal, commitRecords: 64, commitIntervalMs: 60_000, maxBatchRecords: 50 });
  }
  await runJob(app(() => {}), { log, untilEnd: true });

  const outs: Out[] = [];
  for (let p = 0; p < 2; p++) for (const r of await readAll(log, 'out', p, { from: 0 })) outs.push(JSON.parse(Buffer.from(r.value!).toString()) as Out);
  assert.equal(outs.length, EVENTS, 'one output per input: none lost, none duplicated');
  const byKey = new Map<string, Out[]>();
  for (const o of outs) byKey.set(o.k, [...(byKey.get(o.k) ?? []), o]);
  for (const [k, list] of byKey) {
    const inputs = Array.from({ length: EVENTS }, (_, i) => i).filter((i) => `k${i % KEYS}` === k);
    // Per input partition the order is kept; count n is the event's place among its key's events.
    assert.deepEqual(list.map((o) => o.n).sort((x, y) => x - y), inputs.map((_, j) => j + 1), `${k}: counts 1..${inputs.length} once each`);
    assert.deepEqual(list.map((o) => o.i).sort((x, y) => x - y), inputs, `${k}: every input counted once`);
    for (const parity of [0, 1]) {
      const same = list.filter((o) => o.i % 2 === parity);
      assert.deepEqual(same.map((o) => o.i), [...same.map((o) => o.i)].sort((x, y) => x - y), `${k}: input order kept within input partition ${parity}`);
      assert.deepEqual(same.map((o) => o.n), [...same.map((o) => o.n)].sort((x, y) => x - y), `${k}: counts rise within input partition ${parity}`);
    }
  }
}
