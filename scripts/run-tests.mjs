#!/usr/bin/env node
// Finds test/**/*.test.ts and hands them to node's test runner with tsx.
// (Node 20's --test does not expand globs itself.) Pass paths or substrings to
// run a subset: `node scripts/run-tests.mjs log/segment e2e`.
//
// Each file runs in its own process, two at a time: the suite is sized for a
// 2-core machine, and most files spawn CLI processes of their own, so more
// files at once only makes each slower (and the slowest one decides the
// total). The timeout is a last resort against a hang, not a speed check: it
// applies to each file and to each test in it, and is far above the slowest
// file at load average 10 (see docs/testing.md). SLUICE_TEST_TIMEOUT_S sets
// it, for `npm run proof`'s long versions of the same files.
//
// The output is node's TAP, then a table of the slowest files, then node's
// closing summary (`# pass N`, `# fail N`, ...) as the last lines.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
let files = find('test');
if (filters.length > 0) files = files.filter((f) => filters.some((s) => relative('test', f).includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const script = (name) => join(import.meta.dirname, name);
const cpuDir = mkdtempSync(join(tmpdir(), 'sluice-test-cpu-'));
const child = spawn(
  process.execPath,
  [
    // Options before --test are passed on to each file's process.
    '--import', 'tsx',
    '--import', script('test-cpu.mjs'),
    '--test',
    '--test-concurrency=2',
    `--test-timeout=${Number(process.env.SLUICE_TEST_TIMEOUT_S ?? 600) * 1000}`,
    `--test-reporter=${script('test-reporter.mjs')}`,
    '--test-reporter-destination=stdout',
    ...files,
  ],
  { stdio: 'inherit', env: { ...process.env, SLUICE_TEST_CPU_DIR: cpuDir } },
);
child.on('exit', (code, signal) => {
  rmSync(cpuDir, { recursive: true, force: true });
  process.exit(signal ? 1 : (code ?? 1));
});
