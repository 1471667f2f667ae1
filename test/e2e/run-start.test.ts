// How `sluice run` starts and what it says while it runs: the readiness line a
// script waits for (the real port of a source on port 0, the topics, the state),
// progress lines, and a misconfigured run that fails having created nothing
// and naming every unknown topic at once. And a key function that returns
// undefined: a dead letter that names the operator and the type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { finished, jsonLines, runCli, spawnCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const INDEX = pathToFileURL(join(process.cwd(), 'src/index.ts')).href;

/** Resolves with stderr so far once `re` matches it (no deadline of its own: the test's timeout is the limit). */
function stderrUntil(child: ReturnType<typeof spawnCli>, re: RegExp): Promise<string> {
  let text = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (re.test(text)) resolve(text);
    });
    child.on('close', (code) => reject(new Error(`exited ${code} before ${re}: ${text}`)));
  });
}

function parseReady(line: string): Record<string, string> {
  assert.match(line, /^sluice ready /);
  return Object.fromEntries(line.slice('sluice ready '.length).split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

test('sluice run prints one readiness line with the real port, the topics and the state; progress by the clock; --quiet keeps only readiness', async (t) => {
  const dir = tmpDir(t);
  const dataDir = join(dir, 'data');
  const out = join(dir, 'out.jsonl');
  assert.equal((await runCli(['topic', 'create', 'totals', '--partitions', '1'], { dataDir })).code, 0);
  const app = join(dir, 'app.ts');
  fs.writeFileSync(
    app,
    `import { Application, tcpSource, topicSink, fileSink, json } from ${JSON.stringify(INDEX)};
const app = new Application('ready');
const lines = app.pipeline('p').from(tcpSource({ port: 0, framing: 'lines' }), json<{ n: number }>());
lines.to(topicSink({ topic: 'totals' }), json);
lines.to(fileSink({ path: ${JSON.stringify(out)} }), json);
export default app;
`,
  );
  for (const quiet of [false, true]) {
    fs.rmSync(out, { force: true });
    const child = spawnCli(['run', app, ...(quiet ? ['--quiet'] : [])], { dataDir, env: { SLUICE_PROGRESS_MS: '1' } });
    const done = finished(child, 120_000);
    const ready = (await stderrUntil(child, /^sluice ready .*\n/m)).split('\n').find((l) => l.startsWith('sluice ready '))!;
    const f = parseReady(ready);
    assert.equal(f['job'], 'ready');
    assert.match(f['listen']!, /^tcp:\/\/127\.0\.0\.1:[1-9]\d*$/, 'the port the OS chose, not 0');
    assert.equal(f['reads'], '-');
    assert.equal(f['writes'], 'totals');
    assert.equal(f['state'], 'ready-changelog');
    assert.equal(f['log'], dataDir);
    assert.equal(f['guarantee'], 'exactly-once');
    // Ready means it: a sender connects at once, and its line comes out.
    const port = Number(f['listen']!.split(':').pop());
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    sock.end('{"n":1}\n');
    while (!fs.existsSync(out) || fs.readFileSync(out, 'utf8') === '') await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0);
    const stderr = r.stderr;
    assert.equal(stderr.split('\n').filter((l) => l.startsWith('sluice ready ')).length, 1, 'one readiness line');
    const progress = stderr.split('\n').filter((l) => /^ready: running \d+ s: \d+ in \(\d+\/s\), \d+ out, \d+ dead-lettered, \d+ checkpoints?$/.test(l));
    if (quiet) {
      assert.equal(progress.length, 0, `--quiet: no progress:\n${stderr}`);
      assert.doesNotMatch(stderr, /records? in,/, '--quiet: no summary');
    } else {
      assert.ok(progress.length > 0, `progress lines every 1 ms on a pipe:\n${stderr}`);
      assert.match(stderr, /^ready: 1 record in, 2 out, 0 dead-lettered, \d+ checkpoints? in /m);
    }
  }
});

test('a run with unknown topics names all of them at once and creates nothing', async (t) => {
  const dataDir = tmpDir(t);
  assert.equal((await runCli(['topic', 'create', 'in', '--partitions', '1'], { dataDir })).code, 0);
  const app = join(dataDir, 'app.ts');
  fs.writeFileSync(
    app,
    `import { Application, topicSource, topicSink, json } from ${JSON.stringify(INDEX)};
const app = new Application('typo');
app.pipeline('p').from(topicSource({ topic: ['in', 'orderz'] }), json<unknown>()).to(topicSink({ topic: 'totalz' }), json);
export default app;
`,
  );
  const r = await runCli(['run', app, '--until-end'], { dataDir });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^sluice: job typo: 2 unknown topics orderz \(read\), totalz \(written\); nothing was created\. .*sluice topic create orderz .*sluice topic create totalz /);
  const list = await runCli(['topic', 'list'], { dataDir });
  assert.deepEqual(jsonLines(list.stdout).map((x) => (x as { name: string }).name), ['in'], 'no changelog, no dead-letter topic');
});

test('a run whose source port is taken fails with one line and leaves no changelog behind', async (t) => {
  const dataDir = tmpDir(t);
  assert.equal((await runCli(['topic', 'create', 'out', '--partitions', '1'], { dataDir })).code, 0);
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as net.AddressInfo).port;
  const app = join(dataDir, 'app.ts');
  fs.writeFileSync(
    app,
    `import { Application, tcpSource, topicSink, json, text } from ${JSON.stringify(INDEX)};
const app = new Application('busy');
app.pipeline('p').from(tcpSource({ port: ${port}, framing: 'lines' }), text).to(topicSink({ topic: 'out' }), json);
export default app;
`,
  );
  const r = await runCli(['run', app], { dataDir });
  assert.notEqual(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`${port}`));
  const list = await runCli(['topic', 'list'], { dataDir });
  assert.deepEqual(jsonLines(list.stdout).map((x) => (x as { name: string }).name), ['out'], 'no busy-changelog');
});

test('a key function that returns undefined dead-letters naming the operator and the type', async (t) => {
  const dataDir = tmpDir(t);
  for (const topic of ['in', 'out']) assert.equal((await runCli(['topic', 'create', topic, '--partitions', '1'], { dataDir })).code, 0);
  assert.equal((await runCli(['produce', 'in'], { dataDir, input: '{"id":"a"}\n{"name":"no id"}\n' })).code, 0);
  const app = join(dataDir, 'app.ts');
  fs.writeFileSync(
    app,
    `import { Application, topicSource, topicSink, json } from ${JSON.stringify(INDEX)};
const app = new Application('keys');
const s = app.pipeline('p').from(topicSource({ topic: 'in' }), json<{ id?: string }>());
s.to(topicSink({ topic: 'out' }), json, { name: 'by-id', key: (v) => v.id as string });
s.keyBy((v) => v.id as string).count().to(topicSink({ topic: 'out' }), json, { name: 'counts' });
export default app;
`,
  );
  const r = await runCli(['run', app, '--until-end'], { dataDir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /keys: 2 records in, \d+ out, 2 dead-lettered \(topic keys-dead-letters\)/);
  const dead = await runCli(['consume', 'keys-dead-letters', '--with-meta'], { dataDir });
  const errors = jsonLines(dead.stdout).map((d) => (d as { headers: Record<string, string> }).headers['sluice.error']).sort();
  assert.equal(errors.length, 2);
  assert.equal(errors[0], 'the key function of by-id returned undefined; it must return a string, bytes (Uint8Array) or null');
  assert.match(errors[1]!, /^the key function of keyBy-\d+ returned undefined; it must return a string or a number$/);
});

test('sluice produce reports progress while its input stays open', async (t) => {
  const dataDir = tmpDir(t);
  assert.equal((await runCli(['topic', 'create', 'lines', '--partitions', '1'], { dataDir })).code, 0);
  const child = spawnCli(['produce', 'lines'], { dataDir, env: { SLUICE_PROGRESS_MS: '1' } });
  const done = finished(child, 120_000);
  child.stdin.write('{"n":1}\n{"n":2}\n');
  await stderrUntil(child, /^produce lines: 2 lines read \(\d+\/s\), \d records appended$/m);
  child.stdin.end();
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\nproduced 2 records to lines \(partition 0 offsets 0-1\)\n$/, 'the summary last');
});

test('the progress of a job on a topic backlog says how many records are left to read, down to 0', async (t) => {
  const dataDir = tmpDir(t);
  for (const topic of ['backlog', 'copied']) assert.equal((await runCli(['topic', 'create', topic, '--partitions', '2'], { dataDir })).code, 0);
  const lines = Array.from({ length: 2000 }, (_, i) => `{"n":${i}}\n`).join('');
  assert.equal((await runCli(['produce', 'backlog', '--quiet'], { dataDir, input: lines })).code, 0);
  const app = join(dataDir, 'app.ts');
  fs.writeFileSync(
    app,
    `import { Application, topicSource, topicSink, json } from ${JSON.stringify(INDEX)};
const app = new Application('catch-up');
app.pipeline('p').from(topicSource({ topic: 'backlog' }), json<unknown>()).to(topicSink({ topic: 'copied' }), json);
export default app;
`,
  );
  const child = spawnCli(['run', app], { dataDir, env: { SLUICE_PROGRESS_MS: '1' } });
  const done = finished(child, 120_000);
  const seen = await stderrUntil(child, /^catch-up: running \d+ s: 2000 in \(\d+\/s\), 2000 out, 0 dead-lettered, \d+ checkpoints?, 0 to read$/m);
  child.kill('SIGTERM');
  assert.equal((await done).code, 0);
  const left = [...seen.matchAll(/, (\d+) to read$/gm)].map((m) => Number(m[1]));
  assert.ok(left.length > 0 && left.every((n) => n >= 0 && n <= 2000), `backlog figures: ${left.join(' ')}`);
});
