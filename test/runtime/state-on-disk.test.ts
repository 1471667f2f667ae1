// The on-disk keyed state backend (src/runtime/state-on-disk.ts): a keyed
// count kept on disk with no cache (every clean key leaves memory at each
// checkpoint, so every later event reads its key from the store) emits every
// count exactly once across stops and restarts; and whatever the store's
// relation to the changelog at a start — behind it (a crash between the commit
// and the store's write), deleted, ahead of it (from another run), from another
// incarnation of the changelog topic, damaged — the job goes on from the
// committed state.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Application } from '../../src/dataflow/application.ts';
import { Job } from '../../src/runtime/job.ts';
import { json } from '../../src/codec.ts';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { topicSink, topicSource } from '../../src/connectors/index.ts';
import { ErrorCodes, isSluiceError } from '../../src/errors.ts';
import { readAll } from '../helpers/read-all.ts';
import { tmpDir } from '../helpers/tmp.ts';

interface Out {
  k: string;
  n: number;
}

const KEYS = 300;

function app(perOperator: boolean, onEvent: () => void = () => {}): Application {
  const a = new Application('on-disk', { partitions: 3 });
  a.pipeline('p')
    .from(topicSource({ topic: 'in' }), json<{ k: string }>())
    .map((e) => (onEvent(), e))
    .keyBy((e) => e.k)
    .process(
      () => ({ n: 0 }),
      (e, state, ctx) => {
        state.n++;
        ctx.emit({ k: e.k, n: state.n });
      },
      { name: 'count', stateBackend: perOperator ? 'disk' : undefined },
    )
    .to(topicSink({ topic: 'out' }), json);
  return a;
}

async function feed(log: FileLog, from: number, count: number): Promise<void> {
  const enc = new TextEncoder();
  const records = [];
  for (let i = from; i < from + count; i++) records.push({ key: null, value: enc.encode(JSON.stringify({ k: `k${(i * 7) % KEYS}` })), timestamp: i, headers: {} });
  await log.append('in', 0, records);
}

/** Every key's counts in the output are 1..n, once each, with n its number of inputs among the first `total`. */
async function checkCounts(log: FileLog, total: number): Promise<void> {
  const want = new Map<string, number>();
  for (let i = 0; i < total; i++) want.set(`k${(i * 7) % KEYS}`, (want.get(`k${(i * 7) % KEYS}`) ?? 0) + 1);
  const got = new Map<string, number[]>();
  for (const r of await readAll(log, 'out', 0, { from: 0 })) {
    const o = JSON.parse(Buffer.from(r.value!).toString()) as Out;
    got.set(o.k, [...(got.get(o.k) ?? []), o.n]);
  }
  assert.equal(got.size, want.size);
  for (const [k, n] of want) assert.deepEqual(got.get(k), Array.from({ length: n }, (_, i) => i + 1), `${k}: counts 1..${n} once each, in order`);
}

async function setup(dir: string): Promise<FileLog> {
  const log = await openFileLog({ dataDir: dir });
  await log.createTopic('in', { partitions: 1 });
  await log.createTopic('out', { partitions: 1 });
  return log;
}

const run = (log: FileLog, stateDir: string, warnings: string[] = [], perOperator = false) =>
  new Job(app(perOperator), { log, untilEnd: true, commitRecords: 97, state: { backend: perOperator ? 'memory' : 'disk', stateDir, cacheBytes: 0, warn: (m) => warnings.push(m) } }).run();

test('a keyed count kept on disk without a cache, stopped and restarted 6 times, emits every count once', async (t) => {
  const dir = tmpDir(t, 'sluice-disk-restart-');
  const log = await setup(dir);
  try {
    await feed(log, 0, 3000);
    for (const stopAt of [1, 250, 999, 77, 1500, 3]) {
      const ac = new AbortController();
      let seen = 0;
      await new Job(app(true, () => { if (++seen === stopAt) ac.abort(); }), { log, signal: ac.signal, commitRecords: 64, commitIntervalMs: 60_000, maxBatchRecords: 50, state: { stateDir: join(dir, 'state'), cacheBytes: 0 } }).run();
    }
    await new Job(app(true), { log, untilEnd: true, state: { stateDir: join(dir, 'state'), cacheBytes: 0 } }).run();
    await checkCounts(log, 3000);
  } finally {
    await log.close();
  }
});

test('the store behind the changelog, deleted, ahead of it, of another changelog topic, damaged: each start goes on from the committed state', async (t) => {
  const root = tmpDir(t, 'sluice-disk-cases-');
  const a = join(root, 'a');
  const stateA = join(a, 'state');
  let log = await setup(a);
  let total = 0;
  const step = async (l: FileLog, stateDir: string, warnings: string[] = []) => {
    await feed(l, total, 500);
    total += 500;
    await run(l, stateDir, warnings);
    await checkCounts(l, total);
  };
  try {
    await step(log, stateA);
    const behind = join(root, 'behind');
    cpSync(stateA, behind, { recursive: true });
    await step(log, stateA);

    await t.test('behind (a crash after the commit, before the store was written): the changelog after its stamp is applied', async () => {
      rmSync(stateA, { recursive: true });
      cpSync(behind, stateA, { recursive: true });
      const warnings: string[] = [];
      await step(log, stateA, warnings);
      assert.deepEqual(warnings, [], 'a store behind is brought up to date, not rebuilt');
    });

    await t.test('deleted: rebuilt from the changelog', async () => {
      rmSync(stateA, { recursive: true });
      await step(log, stateA);
    });

    await t.test('ahead of the changelog (another run of the same data dir went further): rebuilt, with a warning', async () => {
      await log.close();
      const b = join(root, 'b');
      cpSync(a, b, { recursive: true });
      log = await openFileLog({ dataDir: a });
      const saved = total;
      await step(log, stateA); // a's store is now past b's changelog
      await log.close();
      total = saved;
      rmSync(join(b, 'state'), { recursive: true });
      cpSync(stateA, join(b, 'state'), { recursive: true });
      const logB = await openFileLog({ dataDir: b });
      try {
        const warnings: string[] = [];
        await step(logB, join(b, 'state'), warnings);
        assert.match(warnings.join('\n'), /is ahead of the changelog/);
      } finally {
        await logB.close();
      }
      // a and b had the same inputs: total is right for both.
      log = await openFileLog({ dataDir: a });
    });

    await t.test('of another incarnation of the changelog topic (a new data dir, the old state dir): rebuilt, with a warning', async () => {
      const c = join(root, 'c');
      const logC = await setup(c);
      const saved = total;
      total = 0;
      try {
        const warnings: string[] = [];
        await step(logC, stateA, warnings);
        assert.match(warnings.join('\n'), /another incarnation of topic on-disk-changelog/);
      } finally {
        await logC.close();
        total = saved;
      }
      // And back: the store (now c's) is rebuilt for a's changelog.
      rmSync(stateA, { recursive: true });
    });

    await t.test('damaged files: never read as state; the store is rebuilt with a warning naming it', async () => {
      await step(log, stateA);
      const store = join(stateA, 'on-disk');
      for (const f of readdirSync(store)) if (/\.(ldb|log)$/.test(f)) writeFileSync(join(store, f), Buffer.alloc(4096, 0x5a));
      await feed(log, total, 500);
      total += 500;
      const warnings: string[] = [];
      try {
        await run(log, stateA, warnings);
      } catch (e) {
        assert.ok(isSluiceError(e, ErrorCodes.DAMAGED), String(e));
        assert.match((e as Error).message, new RegExp(store.replace(/[/\\.]/g, '\\$&')));
        await run(log, stateA, warnings);
      }
      await checkCounts(log, total);
      assert.match(warnings.join('\n'), new RegExp(`state store ${store.replace(/[/\\.]/g, '\\$&')}`));
    });
  } finally {
    await log.close();
  }
});
