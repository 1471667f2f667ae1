// `sluice exec` restarted with nothing new does no work (issue 13, item 7):
// the program is started, and fed its journal, only when new input arrives or
// when it still has to be given the end of its input. Counted by the replay
// line and the summary's counts, not by time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { sluice, spawnSluice } from '../fixtures/crash-harness.ts';
import { IN, OUT, PROGRAMS, committedValues, execArgs, execState, followArgs, missingTools, sameList, setup, waitUntil } from '../exec/harness.ts';
import { runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { localSocketPath } from '../../src/server/local-socket.ts';

const skip = missingTools() ?? false;
const values = Array.from({ length: 3_000 }, (_, i) => JSON.stringify({ i }));
const counted = (vals: string[]): string[] => vals.map((v, k) => JSON.stringify({ n: k + 1, v: JSON.parse(v) as unknown }));
const echo = ['python3', PROGRAMS.echoCount];

test('--until-end after a finished run, with nothing new: exits 0 at once, replaying nothing', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-nothing-');
  await setup(dir, values);
  await sluice(execArgs('again', echo), dir);
  assert.equal((await execState(dir, 'again'))?.ended, true, 'the finished run recorded that the program was given the end of its input');
  const r = await sluice(execArgs('again', echo), dir);
  assert.doesNotMatch(r.stderr, /replay/, 'nothing replayed');
  assert.match(r.stderr, /again: 0 inputs, 0 outputs committed in 0 checkpoints/);
  // New input: now the journal is replayed, and the outputs go on where they were.
  assert.equal((await runCli(['produce', IN], { dataDir: dir, input: '{"i":3000}\n' })).code, 0);
  const more = await sluice(execArgs('again', echo), dir);
  assert.match(more.stderr, /again: replayed 3,000 inputs/);
  assert.match(more.stderr, /again: 1 inputs, 1 outputs committed/);
  sameList(await committedValues(dir, OUT), counted([...values, '{"i":3000}']), 'outputs');
});

test('--until-end after a run stopped before its end: the program is fed its journal and given the end, once', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-unended-');
  await setup(dir, values.slice(0, 100));
  // Writes only at end of input: the count of lines.
  const total = ['python3', '-c', 'import sys\nn = 0\nfor line in sys.stdin:\n    n += 1\nprint(n)'];
  const { child, done } = spawnSluice(followArgs('total', total), dir);
  await waitUntil('the 100 inputs journaled', async () => (await execState(dir, 'total'))?.journal === 100);
  child.kill('SIGTERM');
  assert.equal((await done).code, 0);
  assert.deepEqual(await committedValues(dir, OUT), [], 'nothing written before the end of input');
  const r = await sluice(execArgs('total', total), dir);
  assert.match(r.stderr, /total: replayed 100 inputs/);
  assert.deepEqual(await committedValues(dir, OUT), ['100']);
  const again = await sluice(execArgs('total', total), dir);
  assert.doesNotMatch(again.stderr, /replay/);
  assert.deepEqual(await committedValues(dir, OUT), ['100'], 'the end of input is given once');
});

test('follow mode restarted with nothing new replays nothing until the first new input', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-lazy-');
  await setup(dir, values);
  await sluice(execArgs('lazy', echo), dir);
  const socket = localSocketPath(dir);
  // Stopped once it has the data dir open (the log is open before any replay would start).
  const first = spawnSluice(followArgs('lazy', echo), dir);
  await waitUntil('exec to open the data dir', () => existsSync(socket));
  first.child.kill('SIGTERM');
  const stopped = await first.done;
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.doesNotMatch(stopped.stderr, /replay/, 'stopped before any new input: nothing replayed');
  assert.match(stopped.stderr, /lazy: 0 inputs, 0 outputs committed in 0 checkpoints/);

  const second = spawnSluice(followArgs('lazy', echo), dir);
  let exited = false;
  void second.done.then(() => (exited = true));
  await waitUntil('exec to open the data dir', () => existsSync(socket));
  assert.equal((await runCli(['produce', IN], { dataDir: dir, input: '{"i":3000}\n' })).code, 0);
  await waitUntil('the new input committed', async () => {
    if (exited) throw new Error(`exec exited: ${(await second.done).stderr}`);
    return (await execState(dir, 'lazy'))?.outputs === 3_001;
  });
  second.child.kill('SIGTERM');
  const r = await second.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /lazy: replayed 3,000 inputs/);
  sameList(await committedValues(dir, OUT), counted([...values, '{"i":3000}']), 'outputs');
});
