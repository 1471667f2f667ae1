// Several `sluice` processes on one embedded data dir: the one holding its
// lock serves it on the dir's local socket and the others use it; when the
// holder dies, another takes over. Through the real CLI, with real SIGKILLs.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { finished, jsonLines, runCli, spawnCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { startBroker } from '../server/helpers.ts';

const INDEX = pathToFileURL(join(process.cwd(), 'src/index.ts')).href;

async function ok(args: string[], dataDir: string, input?: string, env?: Record<string, string>): Promise<string> {
  const r = await runCli(args, { dataDir, ...(input === undefined ? {} : { input }), ...(env ? { env } : {}) });
  assert.equal(r.code, 0, `sluice ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

function lines(from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += JSON.stringify({ i }) + '\n';
  return s;
}

/** A job copying topic `in` to topic `out` (keyed by i), exactly once. */
function relayApp(dir: string): string {
  const file = join(dir, 'relay.ts');
  fs.writeFileSync(
    file,
    `import { Application, json, topicSink, topicSource } from ${JSON.stringify(INDEX)};
const app = new Application('relay');
app.pipeline('p')
  .from(topicSource({ topic: 'in' }), json<{ i: number }>())
  .map((r) => ({ i: r.i, relayed: true }))
  .to(topicSink({ topic: 'out' }), json<{ i: number; relayed: boolean }>(), { key: (r) => String(r.i) });
export default app;
`,
  );
  return file;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, child?: ChildProcessWithoutNullStreams): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await cond())) {
    if (child && child.exitCode !== null) throw new Error(`the holder exited (${child.exitCode}) before ${what}`);
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function endOffsets(dataDir: string, topic: string): Promise<number> {
  const log = await openFileLog({ dataDir, readOnly: true });
  try {
    return (await log.describeTopic(topic)).partitions.reduce((n, p) => n + p.endOffset, 0);
  } finally {
    await log.close();
  }
}

/** Each i in [0, n) exactly once. */
function exactlyOnce(values: unknown[], n: number, what: string): void {
  const seen = new Map<number, number>();
  for (const v of values) seen.set((v as { i: number }).i, (seen.get((v as { i: number }).i) ?? 0) + 1);
  const missing = [...Array(n).keys()].filter((i) => !seen.has(i));
  const twice = [...seen].filter(([, c]) => c > 1).map(([i]) => i);
  assert.deepEqual({ missing: missing.slice(0, 10), twice: twice.slice(0, 10), count: values.length }, { missing: [], twice: [], count: n }, what);
}

async function startJob(t: TestContext, dir: string, data: string): Promise<ChildProcessWithoutNullStreams> {
  const job = spawnCli(['run', relayApp(dir), '--commit-interval-ms', '20'], { dataDir: data });
  t.after(() => job.kill('SIGKILL'));
  await until('the job serves the data dir', () => fs.existsSync(join(data, 'sluice.sock')), job);
  return job;
}

test('produce while a job runs, two producers at once: the job sees every record, output exactly once', async (t) => {
  const dir = tmpDir(t);
  const data = join(dir, 'data');
  await ok(['topic', 'create', 'in', '--partitions', '2'], data);
  await ok(['topic', 'create', 'out', '--partitions', '2'], data);
  const job = await startJob(t, dir, data);
  const done = finished(job, 180_000);

  const [a, b] = await Promise.all([runCli(['produce', 'in'], { dataDir: data, input: lines(0, 1000) }), runCli(['produce', 'in'], { dataDir: data, input: lines(1000, 2000) })]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.match(a.stderr, /^produced 1000 records/m);
  // A topic made while the job holds the dir goes through it too.
  await ok(['topic', 'create', 'later', '--partitions', '1'], data);

  const out = jsonLines(await ok(['consume', 'out', '--follow', '--max', '2000'], data));
  exactlyOnce(out, 2000, 'the job output, as it runs');
  job.kill('SIGTERM');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /2000 records in, 2000 out/);
  exactlyOnce(jsonLines(await ok(['consume', 'in'], data)), 2000, 'the input');
  exactlyOnce(jsonLines(await ok(['consume', 'out'], data)), 2000, 'the output, after the job stopped');
  assert.deepEqual(fs.readdirSync(data).sort(), ['groups', 'topics', 'transactions'], 'no lock or socket left after a clean exit');
  assert.ok(jsonLines(await ok(['topic', 'list'], data)).some((x) => (x as { name: string }).name === 'later'), 'the topic made through the holder');
});

test('the holder SIGKILLed while two producers stream through it: one takes over, the other uses it, nothing lost or duplicated', async (t) => {
  const dir = tmpDir(t);
  const data = join(dir, 'data');
  await ok(['topic', 'create', 'in', '--partitions', '2'], data);
  await ok(['topic', 'create', 'out', '--partitions', '2'], data);
  const job = await startJob(t, dir, data);
  // Two producers, so that two clients race to take over.
  const producers = [0, 1].map(() => spawnCli(['produce', 'in', '--batch-records', '100'], { dataDir: data }));
  const produced = producers.map((p) => finished(p, 180_000));
  producers[0]!.stdin.write(lines(0, 1500));
  producers[1]!.stdin.write(lines(3000, 4500));
  await until('the first halves are in', async () => (await endOffsets(data, 'in')) >= 3000);
  job.kill('SIGKILL');
  await new Promise((r) => job.once('close', r));
  producers[0]!.stdin.end(lines(1500, 3000));
  producers[1]!.stdin.end(lines(4500, 6000));
  for (const p of await Promise.all(produced)) {
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stderr, /^produced 3000 records/m);
  }
  assert.ok(fs.existsSync(join(data, 'LOCK')) === false && fs.existsSync(join(data, 'sluice.sock')) === false, 'a producer took the dir over and released it');
  exactlyOnce(jsonLines(await ok(['consume', 'in'], data)), 6000, 'the input');

  // The job, rerun, finishes from its last checkpoint: its output has every input once.
  const r = await runCli(['run', relayApp(dir), '--until-end'], { dataDir: data, timeoutMs: 180_000 });
  assert.equal(r.code, 0, r.stderr);
  exactlyOnce(jsonLines(await ok(['consume', 'out'], data)), 6000, 'the output');
});

test('a lock file left by a dead writer naming pid 1 or another host does not keep `sluice produce` out', async (t) => {
  const data = tmpDir(t);
  await ok(['topic', 'create', 'in', '--partitions', '1'], data);
  for (const owner of [{ pid: 1, host: os.hostname() }, { pid: process.pid, host: 'another-pod' }]) {
    fs.writeFileSync(join(data, 'LOCK'), JSON.stringify({ ...owner, command: 'sluice run job.ts', since: '2026-01-01T00:00:00.000Z' }));
    await ok(['produce', 'in'], data, lines(0, 1));
  }
  assert.equal(jsonLines(await ok(['consume', 'in'], data)).length, 2);
});

test('a deep data dir is served on a socket in a private temp dir: its path is too long for one in the dir', async (t) => {
  const dir = tmpDir(t);
  const data = join(dir, 'a'.repeat(60), 'b'.repeat(60), 'data');
  assert.ok(Buffer.byteLength(join(data, 'sluice.sock')) > 107);
  await ok(['topic', 'create', 'in', '--partitions', '1'], data);
  await ok(['topic', 'create', 'out', '--partitions', '1'], data);
  const job = spawnCli(['run', relayApp(dir), '--commit-interval-ms', '20'], { dataDir: data });
  t.after(() => job.kill('SIGKILL'));
  const done = finished(job, 180_000);
  await until('the job holds the data dir', () => fs.existsSync(join(data, 'LOCK')), job);
  await ok(['produce', 'in'], data, lines(0, 10));
  assert.equal(jsonLines(await ok(['consume', 'out', '--follow', '--max', '10'], data)).length, 10);
  job.kill('SIGTERM');
  assert.equal((await done).code, 0);
  const sockets = join(os.tmpdir(), `sluice-${process.getuid?.() ?? 0}`);
  assert.equal((fs.statSync(sockets).mode & 0o777).toString(8), '700');
});

test('a holder that does not serve the dir (its own program): a writer waits a bounded time, saying for what, then fails naming it', async (t) => {
  const data = tmpDir(t);
  const holder = await openFileLog({ dataDir: data });
  try {
    await holder.createTopic('held', { partitions: 1 });
    const r = await runCli(['produce', 'held'], { dataDir: data, input: lines(0, 1), env: { SLUICE_HOLDER_WAIT_MS: '1500' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^sluice: waiting up to 2 s for pid ${process.pid} on `, 'm'));
    assert.match(r.stderr, new RegExp(`^sluice: data dir .* is held by pid ${process.pid} .*did not serve it`, 'm'));
    assert.doesNotMatch(r.stderr, /\n {4}at /, 'no stack trace');
  } finally {
    await holder.close();
  }
});

test('beside `sluice serve` on the same data dir, commands without --broker go through it', async (t) => {
  const data = tmpDir(t);
  const broker = await startBroker(data);
  try {
    await ok(['topic', 'create', 'in', '--partitions', '1'], data);
    await ok(['produce', 'in'], data, lines(0, 5));
    assert.equal(jsonLines(await ok(['consume', 'in', '--broker', broker.url], data)).length, 5);
  } finally {
    assert.equal((await broker.stop('SIGTERM')).code, 0);
  }
  assert.equal(fs.existsSync(join(data, 'sluice.sock')), false);
});
