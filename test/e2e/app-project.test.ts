// An application in its own project, as docs/install.md sets one up: outside
// this repository, 'sluice' and TypeScript resolved from the project's own
// node_modules (symlinks here to this checkout and its compiler, instead of an
// `npm install` of the packed tarball: same resolution, no network, no copy).
// Without the package the import error says what to install; --typecheck runs
// the project's tsc and refuses to start on a type error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const ROOT = process.cwd();

const APP = `import { Application, topicSource, topicSink, json } from 'sluice';
import { double } from './lib.ts';
const app = new Application('project');
app.pipeline('p').from(topicSource({ topic: 'in' }), json<{ n: number }>()).map((v) => ({ n: double(v.n) })).to(topicSink({ topic: 'out' }), json);
export default app;
`;

function project(dir: string, withPackages: boolean): void {
  fs.writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-app', version: '1.0.0', type: 'module', private: true }));
  fs.writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'esnext', types: [], strict: true, skipLibCheck: true, noEmit: true, allowImportingTsExtensions: true, verbatimModuleSyntax: true } }),
  );
  fs.writeFileSync(join(dir, 'lib.ts'), 'export const double = (n: number): number => n * 2;\n');
  fs.writeFileSync(join(dir, 'app.ts'), APP);
  if (!withPackages) return;
  fs.mkdirSync(join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, join(dir, 'node_modules', 'sluice'), 'dir');
  fs.symlinkSync(join(ROOT, 'node_modules', 'typescript'), join(dir, 'node_modules', 'typescript'), 'dir');
}

test('an app whose project lacks the sluice package: one line naming the import, the file and how to install it', async (t) => {
  const dir = tmpDir(t);
  project(dir, false);
  for (const type of ['module', 'commonjs']) {
    // "type": "commonjs" is what `npm init -y` writes: tsx then loads the app through require().
    fs.writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-app', type }));
    const r = await runCli(['run', join(dir, 'app.ts')], { dataDir: join(dir, 'data') });
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${type}: one line:\n${r.stderr}`);
    assert.match(lines[0]!, /^sluice: cannot find package 'sluice' imported from \S*app\.ts: install it in the app's project: `npm install \S+`.*docs\/install\.md/, type);
    assert.doesNotMatch(r.stderr, /Require stack|namespace=/, type);
  }
  assert.equal(fs.existsSync(join(dir, 'data')), false, 'nothing created');
});

test('sluice run --typecheck: the project\'s tsc stops a type error before anything starts; a clean project runs', async (t) => {
  const dir = tmpDir(t);
  project(dir, true);
  const dataDir = join(dir, 'data');
  fs.writeFileSync(join(dir, 'lib.ts'), "export const double = (n: number): number => n * 2;\nexport const wrong: number = 'x';\n");
  const bad = await runCli(['run', '--typecheck', '--until-end', join(dir, 'app.ts')], { dataDir });
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /^lib\.ts\(2,14\): error TS2322: Type 'string' is not assignable to type 'number'\.$/m, 'the diagnostics, as tsc prints them');
  assert.match(bad.stderr, /^sluice: --typecheck: tsc -p \S+tsconfig\.json reported 1 error \(above\); the job did not start$/m);
  assert.equal(fs.existsSync(dataDir), false, 'the job did not start');

  fs.writeFileSync(join(dir, 'lib.ts'), 'export const double = (n: number): number => n * 2;\n');
  for (const topic of ['in', 'out']) assert.equal((await runCli(['topic', 'create', topic, '--partitions', '1'], { dataDir })).code, 0);
  assert.equal((await runCli(['produce', 'in'], { dataDir, input: '{"n":21}\n' })).code, 0);
  const ok = await runCli(['run', '--typecheck', '--until-end', join(dir, 'app.ts')], { dataDir });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((await runCli(['consume', 'out'], { dataDir })).stdout, '{"n":42}\n');
});
