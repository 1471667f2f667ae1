// The README's "Your first ten minutes", run as written, in its order, after
// the demo (`npm run demo`, the README's first command), from a fresh copy of
// the repository: each step must work and show what its comment says.
//
// To keep it cheap, the copy reuses this checkout's built dist/ and its
// node_modules by symlink (so `npm install`, which installs and builds them,
// is not run, and `npm run demo` runs examples/demo.sh without its
// build-if-stale step), links src/ (the examples import it), and the demo
// makes 2,000 transfers instead of 100,000: none of that changes what the
// steps do. Only the blocks marked ```sh runnable run (docs/testing.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';

const ROOT = process.cwd();

/** The ```sh blocks of one "## " section of the README, with their info strings. */
function shellBlocks(markdown: string, section: string): { info: string; body: string }[] {
  const start = markdown.indexOf(`\n## ${section}\n`);
  assert.ok(start >= 0, `README has a section "## ${section}"`);
  const end = markdown.indexOf('\n## ', start + 1);
  const text = markdown.slice(start, end < 0 ? undefined : end);
  return [...text.matchAll(/^```(sh[^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({ info: m[1]!.trim(), body: m[2]! }));
}

function bash(script: string, cwd: string, env: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', script], { cwd, env: { ...process.env, SLUICE_PROGRESS_MS: '0', SLUICE_DATA_DIR: '', ...env }, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("the README's first ten minutes work as written after the demo, from a fresh copy", (t) => {
  const readme = fs.readFileSync(join(ROOT, 'README.md'), 'utf8');
  const dir = tmpDir(t, 'sluice-readme-');
  for (const f of ['README.md', 'package.json']) fs.copyFileSync(join(ROOT, f), join(dir, f));
  fs.cpSync(join(ROOT, 'examples'), join(dir, 'examples'), { recursive: true });
  for (const d of ['src', 'dist', 'node_modules']) fs.symlinkSync(join(ROOT, d), join(dir, d), 'dir');

  const [demo] = shellBlocks(readme, 'Two commands');
  assert.equal(demo?.body.trim(), 'npm install && npm run demo', 'the README still starts with the demo');
  const demoRun = bash('bash examples/demo.sh', dir, { DEMO_TRANSFERS: '2000' });
  assert.equal(demoRun.code, 0, demoRun.stdout + demoRun.stderr);
  assert.match(demoRun.stdout, /every outcome equals the sequential reference program's/);

  const steps = shellBlocks(readme, 'Your first ten minutes').filter((b) => b.info === 'sh runnable');
  assert.equal(steps.length, 2, 'the first steps and the exec step are marked runnable');
  // `npm install` is the symlinks above; aliases need expand_aliases outside an interactive shell.
  const script = ['set -euo pipefail', 'shopt -s expand_aliases', ...steps.map((s) => s.body.replace(/^npm install\b.*$/m, ''))].join('\n');
  const r = bash(script, dir, {});
  assert.equal(r.code, 0, `the steps failed:\n${r.stdout}\n${r.stderr}`);

  // consume (approve, approve, deny), then state, then describe, then exec's consume: in that order on stdout.
  const out = r.stdout.split('\n').filter((l) => l !== '');
  const outcomes = out.filter((l) => l.startsWith('{"source"')).map((l) => (JSON.parse(l) as { outcome: string }).outcome);
  assert.deepEqual(outcomes, ['approve', 'approve', 'deny', 'approve', 'approve', 'deny'], 'three outcomes from the job, three from exec, nothing from the demo');
  const state = out.find((l) => l.includes('"balances"'));
  assert.ok(state, `sluice state printed the balances:\n${r.stdout}`);
  assert.match(state, /"alice":74\.68/);
  assert.match(r.stdout, /transfers/, 'topic describe');
  assert.equal(fs.existsSync(join(dir, '.sluice-demo')), true, 'the demo used its own data dir');
});
