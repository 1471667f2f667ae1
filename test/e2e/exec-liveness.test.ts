// `sluice exec` stays live when its program is slow or quiet (issue 13, item
// 7): checkpoints keep committing while the program's stdin is full, a stop
// (SIGTERM) does not wait for a backlog to drain, and a print()-style Python
// program in follow mode has its lines committed per interval.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSluice } from '../fixtures/crash-harness.ts';
import { OUT, committedValues, execState, followArgs, missingTools, sameList, setup, waitUntil, type ExecState } from '../exec/harness.ts';
import { tmpDir } from '../helpers/tmp.ts';

const skip = missingTools() ?? false;

test('a slow program with a backlog: checkpoints go on while its stdin is full, and SIGTERM stops without draining the backlog', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-slow-');
  // 30,000 lines of ~120 bytes: far more than the 1 MiB Sluice queues for a program (~8,700 of
  // them) plus the pipe, and at least 30 s of work at 1 ms a line.
  const input = Array.from({ length: 30_000 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(100) }));
  await setup(dir, input);
  const slow = ['python3', '-c', 'import os, sys, time\nfor line in sys.stdin.buffer:\n    time.sleep(0.001)\n    os.write(1, line)'];
  const { child, done } = spawnSluice(followArgs('slow', slow), dir);
  let exited = false;
  void done.then(() => (exited = true));
  const seen = new Set<number>();
  let at: ExecState | undefined;
  await waitUntil('three checkpoints with outputs while the queue to the program is full', async () => {
    if (exited) throw new Error(`exec exited early: ${(await done).stderr}`);
    at = await execState(dir, 'slow');
    if (at && at.outputs > 0) seen.add(at.outputs);
    return (seen.size >= 3 && at!.journal >= 8_000) || (at?.outputs ?? 0) >= 10_000;
  });
  // Before, the loop waited for the queue to drain before it could checkpoint: the second commit came
  // only after the program had worked through ~9,000 lines.
  assert.ok(at!.outputs < 10_000, `three commits before the program had written 10,000 lines (commits seen at ${[...seen].join(', ')} outputs)`);
  child.kill('SIGTERM');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  const committed = await committedValues(dir, OUT);
  sameList(committed, input.slice(0, committed.length), 'committed outputs: a prefix of the input');
  const st = (await execState(dir, 'slow'))!;
  t.diagnostic(`after SIGTERM: ${st.outputs} outputs, ${st.journal} inputs journaled; commits seen at ${[...seen].join(', ')} outputs`);
  assert.equal(st.outputs, committed.length);
  // Stopping did not wait for the program to read what was queued for it: that stays journaled (a restart replays it).
  assert.ok(st.journal - st.outputs > 4_000, `the stop left the queued backlog unread (${st.journal - st.outputs} inputs)`);
});

test('a print() program in follow mode (Python, block-buffered stdout into a pipe) has its lines committed per interval', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-print-');
  const input = Array.from({ length: 5 }, (_, i) => JSON.stringify({ i }));
  await setup(dir, input);
  const program = ['python3', '-c', 'import sys\nfor line in sys.stdin:\n    print(line.strip())'];
  const { child, done } = spawnSluice(followArgs('printer', program), dir);
  let exited = false;
  void done.then(() => (exited = true));
  await waitUntil('the 5 outputs committed while the job follows its input', async () => {
    if (exited) throw new Error(`exec exited early: ${(await done).stderr}`);
    return ((await execState(dir, 'printer'))?.outputs ?? 0) === 5;
  }, 60_000);
  child.kill('SIGTERM');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  sameList(await committedValues(dir, OUT), input, 'the outputs');
});
