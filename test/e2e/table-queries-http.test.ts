// Table queries over HTTP from a running `sluice run --http` (the real CLI,
// two worker threads, all through a broker as a deployment would have it:
// one process writes a data dir, and the job runs beside the producers): rows appear as the changelog topics are produced to,
// updates and deletes (tombstones from `sluice produce --tombstone-field`)
// show, the table-table join answers too; unknown tables and keys are 404s,
// a token is enforced, and a public bind without one is refused. /status and
// /metrics show the job's progress and event time per source partition.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { finished, runCli, spawnCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { startBroker } from '../server/helpers.ts';

const APP = fileURLToPath(new URL('../fixtures/table-query-app.ts', import.meta.url));

// Response bodies are checked field by field below: typing each shape would add nothing.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function get(url: string, token?: string): Promise<{ status: number; body: any }> {
  const r = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  return { status: r.status, body: await r.json() };
}

/** Polls until `check` passes (the job catches up asynchronously); fails with its last error. */
async function eventually(check: () => Promise<void>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('sluice run --http answers table queries while the job runs (2 workers), with a token', async (t) => {
  const brokerDir = tmpDir(t, 'sluice-query-http-');
  const broker = await startBroker(brokerDir);
  t.after(() => broker.stop());
  const dataDir = tmpDir(t, 'sluice-query-http-unused-');
  const env = { SLUICE_BROKER: broker.url };
  const ok = async (args: string[], input = '') => {
    const r = await runCli(args, { dataDir, input, env });
    assert.equal(r.code, 0, `sluice ${args.join(' ')}: ${r.stderr}`);
  };
  for (const topic of ['users', 'quotas', 'user-quotas']) await ok(['topic', 'create', topic, '--partitions', '2']);
  const users = (lines: object[]) => ok(['produce', 'users', '--key-field', 'id', '--tombstone-field', 'deleted'], lines.map((l) => JSON.stringify(l) + '\n').join(''));
  await users([
    { id: 'u1', name: 'Ada', v: 1 },
    { id: 'u2', name: 'Bob', v: 1 },
  ]);
  await ok(['produce', 'quotas', '--key-field', 'id'], JSON.stringify({ id: 'u1', limit: 100 }) + '\n');

  const job = spawnCli(['run', APP, '--workers', '2', '--http', '127.0.0.1:0', '--http-token', 's3cret', '--commit-interval-ms', '50'], { dataDir, env });
  const done = finished(job, 120_000);
  let stderr = '';
  job.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await eventually(async () => assert.match(stderr, /table queries on http:\/\/127\.0\.0\.1:\d+\/tables/));
    const base = /table queries on (http:\/\/127\.0\.0\.1:\d+)\/tables/.exec(stderr)![1]!;

    assert.deepEqual(await get(`${base}/health`), { status: 200, body: { ok: true } });
    const denied = await get(`${base}/tables`);
    assert.equal(denied.status, 401);
    assert.equal(denied.body.error.code, 'UNAUTHORIZED');
    assert.equal((await get(`${base}/tables`, 'wrong')).status, 401);

    const q = (path: string) => get(`${base}${path}`, 's3cret');
    assert.deepEqual((await q('/tables')).body.tables.sort(), ['quotas', 'user-quotas', 'users']);
    await eventually(async () => {
      assert.deepEqual(await q('/tables/users/u1'), { status: 200, body: { table: 'users', key: 'u1', value: { id: 'u1', name: 'Ada', v: 1 } } });
      assert.deepEqual((await q('/tables/user-quotas/u1')).body.value, { name: 'Ada', limit: 100 });
      assert.deepEqual((await q('/tables/user-quotas/u2')).body.value, { name: 'Bob', limit: null });
    });

    // An update, a delete and a new row, while the job runs.
    await users([
      { id: 'u1', name: 'Ada', v: 2 },
      { id: 'u2', deleted: true },
      { id: 'u 3/x', name: 'Cy', v: 1 },
    ]);
    await eventually(async () => {
      assert.equal((await q('/tables/users/u1')).body.value.v, 2);
      const gone = await q('/tables/users/u2');
      assert.equal(gone.status, 404);
      assert.equal(gone.body.error.code, 'NOT_FOUND');
      assert.equal((await q('/tables/user-quotas/u2')).status, 404, 'the join row went with its user');
      assert.equal((await q(`/tables/users/${encodeURIComponent('u 3/x')}`)).body.value.name, 'Cy');
    });
    const scan = await q('/tables/users');
    assert.equal(scan.status, 200);
    assert.deepEqual(scan.body.rows.map((r: { key: string }) => r.key).sort(), ['u 3/x', 'u1']);
    assert.equal(scan.body.truncated, false);
    const one = await q('/tables/users?limit=1');
    assert.equal(one.body.rows.length, 1);
    assert.equal(one.body.truncated, true);

    // Monitoring: progress and event time, as JSON and for Prometheus.
    const status = (await q('/status')).body;
    assert.equal(status.job, 'table-queries');
    assert.ok(status.recordsIn >= 5, `records in: ${status.recordsIn}`);
    assert.ok(status.checkpoints >= 1);
    assert.deepEqual([...new Set(status.origins.map((o: { source: string }) => o.source))].sort(), ['topic quotas', 'topic users']);
    assert.equal((await get(`${base}/metrics`)).status, 401, '/metrics needs the token too');
    const metrics = await fetch(`${base}/metrics`, { headers: { Authorization: 'Bearer s3cret' } });
    assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
    const text = await metrics.text();
    const inMetric = /^sluice_job_records_in_total\{job="table-queries"\} (\d+)$/m.exec(text);
    assert.ok(inMetric && Number(inMetric[1]) >= 5, text.slice(0, 2000));
    assert.match(text, /^sluice_job_source_idle\{job="table-queries",source="topic users",origin="topic:users\/[01]"\} [01]$/m);
    assert.match(text, /^process_cpu_seconds_total /m);

    const unknown = await q('/tables/orders');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'UNKNOWN_TABLE');
    assert.match(unknown.body.error.message, /its tables: .*users/);
    assert.equal((await q('/tables/users?limt=1')).status, 400, 'a misspelt parameter is an error');
    assert.equal((await fetch(`${base}/tables/users/u1`, { method: 'DELETE', headers: { Authorization: 'Bearer s3cret' } })).status, 405);
  } finally {
    job.kill('SIGTERM');
  }
  const r = await done;
  assert.equal(r.code, 0, `the job stops cleanly on SIGTERM: ${stderr}`);
});

test('sluice run --http beyond loopback without a token is refused before the job starts', async (t) => {
  const dataDir = tmpDir(t, 'sluice-query-http-public-');
  const r = await runCli(['run', APP, '--http', '0.0.0.0:0'], { dataDir });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--http-token/);
});
