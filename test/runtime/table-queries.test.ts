// Interactive queries: a running Job (embedded log) answers lookup() and
// scan() of its tables — from changelog topics and from a table-table join —
// with the rows it has processed, as updates and deletions keep arriving; the
// same with the state partitions on two worker threads.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Job } from '../../src/runtime/job.ts';
import { loadApplication } from '../../src/dataflow/load-app.ts';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { int, joinTables, mulberry32, referenceTable, type Rand } from '../helpers/join-reference.ts';
import type { Quota, User, UserQuota } from '../fixtures/table-query-app.ts';

const APP = fileURLToPath(new URL('../fixtures/table-query-app.ts', import.meta.url));

interface Op<V> {
  key: string;
  value: V | null;
}

/** Random upserts and deletes over `keys` keys. */
function ops<V>(rnd: Rand, n: number, keys: number, row: (i: number) => V): Op<V>[] {
  return Array.from({ length: n }, (_, i) => ({ key: `u${int(rnd, 0, keys - 1)}`, value: rnd() < 0.3 ? null : row(i) }));
}

/** Appends a changelog, each key to one partition (the table's order per key is the partition's). */
async function append<V>(log: FileLog, topic: string, partitions: number, list: Op<V>[]): Promise<void> {
  for (let p = 0; p < partitions; p++) {
    const mine = list.filter((o) => Number(o.key.slice(1)) % partitions === p);
    if (mine.length === 0) continue;
    await log.append(
      topic,
      p,
      mine.map((o) => ({ key: Buffer.from(o.key), value: o.value === null ? null : Buffer.from(JSON.stringify(o.value)) })),
    );
  }
}

/** Polls until `got()` deep-equals `want` (the job catches up asynchronously); fails with the last difference. */
async function eventually<T>(what: string, got: () => Promise<T>, want: T, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const g = await got();
    try {
      assert.deepEqual(g, want, what);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    await new Promise((r) => setTimeout(r, 30));
  }
}

const sorted = <V>(m: Map<string, V>) => new Map([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

async function queriesWhileRunning(t: TestContext, workers: number): Promise<void> {
  const dir = tmpDir(t, 'sluice-table-queries-');
  const log = await openFileLog({ dataDir: dir });
  const stop = new AbortController();
  let running: Promise<unknown> | null = null;
  let finished = false;
  try {
    await log.createTopic('users', { partitions: 2 });
    await log.createTopic('quotas', { partitions: 1 });
    await log.createTopic('user-quotas', { partitions: 1 });
    const rnd = mulberry32(workers);
    const userOps = ops<User>(rnd, 300, 40, (v) => ({ name: `n${int(rnd, 0, 9)}`, v }));
    const quotaOps = ops<Quota>(rnd, 100, 40, (i) => ({ limit: i }));
    const app = await loadApplication(APP);
    const job = new Job(app, { log, signal: stop.signal, commitIntervalMs: 20, workers, appFile: APP });
    running = job.run().finally(() => (finished = true));

    const scan = async <V>(table: string) => sorted(await job.scan<V>(table));
    const check = async (label: string, u: Op<User>[], q: Op<Quota>[]) => {
      const users = referenceTable(u).rows;
      const quotas = referenceTable(q).rows;
      await eventually(`${label}: scan users`, () => scan<User>('users'), sorted(users));
      await eventually(`${label}: scan quotas`, () => scan<Quota>('quotas'), sorted(quotas));
      const joined = joinTables(users, quotas, true, (a, b): UserQuota => ({ name: a.name, limit: b?.limit ?? null }));
      await eventually(`${label}: scan the join`, () => scan<UserQuota>('user-quotas'), sorted(joined));
      for (let k = 0; k < 40; k++) {
        const key = `u${k}`;
        assert.deepEqual(await job.lookup('users', key), users.get(key), `${label}: lookup users ${key}`);
        assert.deepEqual(await job.lookup('user-quotas', key), joined.get(key), `${label}: lookup user-quotas ${key}`);
      }
      assert.equal(await job.lookup('users', 'nobody'), undefined);
      // With workers, the rows live in the worker threads, not on this one: the answers came from them.
      assert.equal(job.engine.tableRows('users').length, workers > 1 ? 0 : users.size, `${label}: rows on the main thread`);
      assert.equal(finished, false, `${label}: the job is still running`);
      return users;
    };

    // First the tables fill; then updates and deletions arrive while the job runs.
    await append(log, 'users', 2, userOps.slice(0, 150));
    await append(log, 'quotas', 1, quotaOps.slice(0, 50));
    const first = await check('first half', userOps.slice(0, 150), quotaOps.slice(0, 50));
    const deleted = [...first.keys()].slice(0, 5).map((key): Op<User> => ({ key, value: null }));
    const second = [...userOps.slice(150), ...deleted];
    await append(log, 'users', 2, second);
    await append(log, 'quotas', 1, quotaOps.slice(50));
    const rows = await check('second half', [...userOps, ...deleted], quotaOps);
    for (const { key } of deleted) assert.equal(rows.has(key), false);
    for (const { key } of deleted) assert.equal(await job.lookup('users', key), undefined, `deleted ${key}`);
    assert.ok(rows.size > 10 && rows.size < 40, `some keys have rows, some were deleted (${rows.size})`);

    await assert.rejects(job.scan('no-such-table'), /no table named no-such-table/);
    // A bad query is the caller's error: the job goes on.
    await append(log, 'users', 2, [{ key: 'u1', value: { name: 'after', v: 999 } }]);
    await eventually('the job still runs after a bad query', () => job.lookup<User>('users', 'u1'), { name: 'after', v: 999 });
  } finally {
    stop.abort();
    await running;
    await log.close();
  }
}

test('a running job answers lookup() and scan() of its tables and of a table-table join, as rows change and are deleted', async (t) => {
  await queriesWhileRunning(t, 1);
});

test('the same across two worker threads (each answers for its partitions), with the app loaded from a file', async (t) => {
  await queriesWhileRunning(t, 2);
});
