// `sluice exec` and an input the program fails on every time (issue 13, item
// 7): after the restarts give up the error names the input (topic, partition,
// offset) and every output before it is committed; --on-error skip passes over
// it (and replays skip it too), --on-error dead-letter also writes it to
// `<job>-dead-letters` with the reason. Errors that a restart cannot cure fail
// at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sluice, spawnSluice } from '../fixtures/crash-harness.ts';
import { IN, OUT, PROGRAMS, committedValues, execArgs, execState, followArgs, missingTools, sameList, setup } from '../exec/harness.ts';
import { runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const skip = missingTools() ?? false;
const N = 3_000;
const POISON = 2_000;
const values = Array.from({ length: N }, (_, i) => JSON.stringify(i === POISON ? { i, poison: true } : { i }));
/** echo-count's outputs when the poison input is passed over: a running count of the others. */
const withoutPoison = (vals: string[]): string[] =>
  vals.filter((v) => !(JSON.parse(v) as { poison?: boolean }).poison).map((v, k) => JSON.stringify({ n: k + 1, v: JSON.parse(v) as unknown }));

test('a poison input: after the restarts the error names it, and every output before it is committed', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-poison-');
  await setup(dir, values);
  const r = await spawnSluice(execArgs('poisoned', ['python3', PROGRAMS.echoCount], '--max-restarts', '1'), dir).done;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /sluice: poisoned: the program fails on the input transfers\/0@2000 every time \(the program exited with code 3\)\. The outputs before it are committed/);
  sameList(await committedValues(dir, OUT), withoutPoison(values).slice(0, POISON), 'committed: every output before the poison');
  // The fixed program resumes at the poison input.
  await sluice(execArgs('poisoned', ['python3', PROGRAMS.echoCount, 'fixed']), dir);
  sameList(await committedValues(dir, OUT), values.map((v, k) => JSON.stringify({ n: k + 1, v: JSON.parse(v) as unknown })), 'after the fixed program ran');
});

test('--on-error skip: the poison input is passed over, at once and in every later replay', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-skip-');
  await setup(dir, values);
  const r = await sluice(execArgs('skipper', ['python3', PROGRAMS.echoCount], '--on-error', 'skip'), dir);
  assert.match(r.stderr, /skipper: passed over the input transfers\/0@2000 \(--on-error skip\)/);
  assert.match(r.stderr, /1 inputs passed over/);
  assert.doesNotMatch(r.stderr, /restarting/);
  sameList(await committedValues(dir, OUT), withoutPoison(values), 'outputs without the poison');
  assert.deepEqual((await execState(dir, 'skipper'))?.skipped?.length, 1);
  // More input: the restart replays the journal, which holds the poison: it is skipped there too.
  const more = Array.from({ length: 10 }, (_, i) => JSON.stringify({ i: N + i }));
  assert.equal((await runCli(['produce', IN], { dataDir: dir, input: more.join('\n') + '\n' })).code, 0);
  const again = await sluice(execArgs('skipper', ['python3', PROGRAMS.echoCount], '--on-error', 'skip'), dir);
  assert.match(again.stderr, /replayed 2,999 inputs/);
  sameList(await committedValues(dir, OUT), withoutPoison([...values, ...more]), 'after a replay with more input');
});

test('--on-error dead-letter: the poison input goes to <job>-dead-letters with the reason, the rest is processed', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-dlq-');
  await setup(dir, values);
  await sluice(execArgs('dlq', ['python3', PROGRAMS.echoCount], '--on-error', 'dead-letter'), dir);
  sameList(await committedValues(dir, OUT), withoutPoison(values), 'outputs without the poison');
  const dead = (await sluice(['consume', 'dlq-dead-letters', '--with-meta'], dir)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { value: unknown; headers: Record<string, string> });
  assert.equal(dead.length, 1);
  assert.deepEqual(dead[0]!.value, { i: POISON, poison: true });
  assert.equal(dead[0]!.headers['sluice.error'], 'the program exited with code 3');
  assert.equal(dead[0]!.headers['sluice.origin'], 'topic:transfers/0');
  assert.equal(dead[0]!.headers['sluice.position'], String(POISON));
  assert.equal(dead[0]!.headers['sluice.job'], 'dlq');
});

test('a command that does not exist fails at once, naming it', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-enoent-');
  await setup(dir, values.slice(0, 10));
  const r = await spawnSluice(execArgs('missing', ['no-such-program-sluice']), dir).done;
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, 'sluice: missing: cannot run no-such-program-sluice: command not found\n');
});

test('a program killed by a signal in the middle of a line is reported as killed, not for the cut-off line', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-midline-');
  await setup(dir, values.slice(0, 10));
  const program = ['python3', '-c', 'import os, signal, sys\nsys.stdin.readline()\nos.write(1, b\'{"cut": \')\nos.kill(os.getpid(), signal.SIGKILL)'];
  const r = await spawnSluice(execArgs('midline', program, '--max-restarts', '0'), dir).done;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /midline: the program was killed by SIGKILL/);
  assert.doesNotMatch(r.stderr, /not JSON/);
});

test('a program that exits 0 before reading its input: one error saying so, no restarts, no doubled counts', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-early-');
  await setup(dir, values.slice(0, 4));
  // Follow mode: its stdin is never closed, so any exit is early. (With --until-end, a program that
  // exits after Sluice closed its stdin cannot be told from one that read it all.)
  const r = await spawnSluice(followArgs('early', ['python3', '-c', 'pass']), dir).done;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^sluice: early: the program exited \(code 0\) before reading all its input: it must read stdin until it closes \(4 inputs were fed to it\)/m);
  assert.doesNotMatch(r.stderr, /restarting|8 inputs/);
});
