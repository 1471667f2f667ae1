// `sluice exec` with broken programs, on the built CLI: each failure is one
// clear `sluice:` line naming what broke (the instance, the output line, the
// input's topic/partition/offset), the exit code is per docs/cli.md, and
// nothing committed is lost or duplicated.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sluice, spawnSluice } from '../fixtures/crash-harness.ts';
import { IN, OUT, PROGRAMS, committedValues, execArgs, missingTools, sameList, setup } from '../exec/harness.ts';
import { runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const skip = missingTools() ?? false;

test('a program that prints a non-JSON line fails at once, naming the instance, the line and the input it followed', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-notjson-');
  const values = Array.from({ length: 200 }, (_, i) => JSON.stringify(i === 150 ? { k: 'x', poison: true } : { k: `k${i}`, i }));
  await setup(dir, values);
  const r = await spawnSluice(execArgs('bad', ['python3', PROGRAMS.echoCount, 'not-json'], '--instances', '2', '--partition-by', 'k', '--max-restarts', '2'), dir).done;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /sluice: bad#[01]: the program fails on the input transfers\/0@150 every time \(output line \d+ is not JSON: "this is not json"/);
  assert.doesNotMatch(r.stderr, /restarting/, 'a program that writes a non-JSON line for an input does so again: no restarts');
  assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('sluice:')).length, 1);
});

test('a program that exits non-zero: restarts with backoff up to --max-restarts, then an error naming the input it fails on; nothing committed lost or duplicated', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-exit-');
  const first = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ i }));
  const second = Array.from({ length: 1000 }, (_, i) => JSON.stringify(i === 500 ? { i: 1000 + i, poison: true } : { i: 1000 + i }));
  const all = [...first, ...second];
  const want = all.map((v, i) => JSON.stringify({ n: i + 1, v: JSON.parse(v) as unknown }));
  await setup(dir, first);
  await sluice(execArgs('flaky', ['python3', PROGRAMS.echoCount]), dir);
  sameList(await committedValues(dir, OUT), want.slice(0, 1000), 'first run');
  const produce = await runCli(['produce', IN], { dataDir: dir, input: second.join('\n') + '\n' });
  assert.equal(produce.code, 0, produce.stderr);

  const failed = await spawnSluice(execArgs('flaky', ['python3', PROGRAMS.echoCount], '--max-restarts', '3'), dir).done;
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /flaky: the program exited with code 3; restarting from the last commit in 100 ms/);
  assert.match(failed.stderr, /in 200 ms/);
  assert.match(failed.stderr, /in 400 ms/);
  assert.equal((failed.stderr.match(/restarting from the last commit/g) ?? []).length, 3);
  assert.match(failed.stderr, /sluice: flaky: the program fails on the input transfers\/0@1500 every time \(the program exited with code 3\)/);
  sameList(await committedValues(dir, OUT), want.slice(0, 1500), 'after the failure: every output before the failing input');

  await sluice(execArgs('flaky', ['python3', PROGRAMS.echoCount, 'fixed']), dir);
  sameList(await committedValues(dir, OUT), want, 'after the fixed program ran: every output once');
});

test('a program that hangs (stops reading, writes nothing) is killed after --hang-timeout-ms and reported', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-hang-');
  // Far more input than a pipe holds, so Sluice ends up waiting for the program to read.
  await setup(dir, Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(40) })));
  const hang = ['python3', '-c', 'import sys, time\nsys.stdin.readline()\ntime.sleep(600)'];
  const r = await spawnSluice(execArgs('stuck', hang, '--hang-timeout-ms', '500', '--max-restarts', '1'), dir).done;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /stuck: the program hangs: it read no input and wrote no output for 1 s while Sluice waited on it/);
  assert.match(r.stderr, /gave up after 1 restarts/);
  assert.deepEqual(await committedValues(dir, OUT), [], 'nothing was committed for a program that never answered');
});
