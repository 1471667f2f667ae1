// `sluice run` end to end: a TypeScript app file that lives outside this
// package (no "type": "module" around it), files in and out, dead letters,
// --workers, and the exit codes for a bad app file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCli } from '../helpers/cli.ts';
import { tmpDir as tempDir } from '../helpers/tmp.ts';

const INDEX = pathToFileURL(join(process.cwd(), 'src/index.ts')).href;

function writeApp(dir: string, input: string, output: string): string {
  const file = join(dir, 'app.ts');
  fs.writeFileSync(
    file,
    `import { Application, fileSource, fileSink, json } from ${JSON.stringify(INDEX)};
interface Order { user: string; total: number }
const app = new Application('spend', { partitions: 4 });
app
  .pipeline('p')
  .from(fileSource({ path: ${JSON.stringify(input)} }), json<Order>())
  .map((o) => { if (o.total < 0) throw new Error('negative total'); return o; })
  .keyBy((o) => o.user)
  .process(() => ({ total: 0 }), (o, s, ctx) => { s.total += o.total; ctx.emit({ user: ctx.key, total: s.total }); }, { name: 'totals' })
  .to(fileSink({ path: ${JSON.stringify(output)} }), json);
export default app;
`,
  );
  return file;
}

for (const workers of [1, 2]) {
  test(`sluice run --until-end --workers ${workers}: a .ts app outside the package, file in, file out, dead letters`, async (t) => {
    const dir = tempDir(t);
    const input = join(dir, 'orders.jsonl');
    const output = join(dir, 'totals.jsonl');
    fs.writeFileSync(input, ['{"user":"ann","total":5}', '{"user":"bob","total":2}', 'not json', '{"user":"ann","total":-1}', '{"user":"ann","total":7}'].join('\n') + '\n');
    const app = writeApp(dir, input, output);
    const r = await runCli(['run', app, '--until-end', '--workers', String(workers)], { dataDir: join(dir, 'data') });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /spend: 5 records in, 3 out, 2 dead-lettered \(topic spend-dead-letters\)/);
    const lines = fs.readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { user: string; total: number });
    assert.deepEqual(lines.filter((l) => l.user === 'ann'), [{ user: 'ann', total: 5 }, { user: 'ann', total: 12 }]);
    assert.deepEqual(lines.filter((l) => l.user === 'bob'), [{ user: 'bob', total: 2 }]);
    const dead = await runCli(['consume', 'spend-dead-letters', '--from-beginning', '--with-meta'], { dataDir: join(dir, 'data') });
    const records = dead.stdout.trim().split('\n').map((l) => JSON.parse(l) as { headers: Record<string, string> });
    assert.deepEqual(records.map((d) => [d.headers['sluice.stage'], d.headers['sluice.position']]), [['decode', '3'], ['process', '4']]);
    assert.match(records[1]!.headers['sluice.error']!, /negative total/);
  });
}

test('sluice run with a missing or wrong app file exits 2 with a clear message', async (t) => {
  const dir = tempDir(t);
  const r1 = await runCli(['run', join(dir, 'nope.ts')], { dataDir: dir });
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /no application file at/);
  const bad = join(dir, 'bad.ts');
  fs.writeFileSync(bad, 'export default 42;\n');
  const r2 = await runCli(['run', bad], { dataDir: dir });
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /must `export default` an Application/);
});

// The app imports its own copy of Sluice (here src/, while the CLI runs dist/),
// as an app with its own node_modules does: its SluiceError is another class.
test('sluice run of an app with a mistake found at start (a pipeline without a sink) exits 2, one line naming it', async (t) => {
  const dir = tempDir(t);
  const app = join(dir, 'no-sink.ts');
  fs.writeFileSync(app, `import { Application, json, stdinSource } from ${JSON.stringify(INDEX)};\nconst app = new Application('no-sink');\napp.pipeline('p').from(stdinSource(), json);\nexport default app;\n`);
  const r = await runCli(['run', app, '--until-end'], { dataDir: join(dir, 'data'), input: '' });
  assert.equal(r.stderr, 'sluice: pipeline p has no sink: end it with .to(sink, codec)\n');
  assert.equal(r.code, 2);
});
