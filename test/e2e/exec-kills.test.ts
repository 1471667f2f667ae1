// `sluice exec` under SIGKILL: of the runtime (seeded, at start-up, mid-run,
// mid-checkpoint, until each kind of moment was struck) and, separately, of
// the child program (the runtime restarts it and replays its journal). The
// committed output must equal a crash-free run's, record for record.
//
// Short loops here; SLUICE_PROOF=1 (`npm run proof:kill-loops`) runs 25 kills
// each on more input, and scripts/exec-proof.ts on 1,000,000 transfers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copyDataDir, crashLoop, describeKills, probe, sluice, uncovered } from '../fixtures/crash-harness.ts';
import { scaled } from '../fixtures/proof-scale.ts';
import { BANK, IN, OUT, childKillLoop, committedValues, execArgs, execCheckpoints, expected, missingTools, sameList, setup, transfers } from '../exec/harness.ts';
import { tmpDir } from '../helpers/tmp.ts';

const skip = missingTools() ?? false;

test('runtime SIGKILLed (Python, replay): committed output equals the crash-free run\'s', { skip }, async (t) => {
  const root = tmpDir(t, 'sluice-exec-kill-');
  const n = scaled(15_000, 60_000);
  const kills = scaled(4, 25);
  const input = await transfers(n, 6);
  const base = join(root, 'input');
  await setup(base, input);
  const clean = join(root, 'clean');
  const crashed = join(root, 'crashed');
  copyDataDir(base, clean);
  copyDataDir(base, crashed);
  const args = execArgs('bank', BANK.python, '--commit-interval-ms', '10');
  const cleanRun = await sluice(args, clean);
  const want = await committedValues(clean, OUT);
  sameList(want, expected(input), 'crash-free run vs reference');
  const res = await crashLoop({
    dataDir: crashed,
    args,
    kills,
    seed: 77,
    checkpoints: execCheckpoints(cleanRun),
    totalInput: input.length,
    group: 'bank',
    inputTopic: IN,
    outputTopic: OUT,
    oneToOne: true,
    untilCovered: true,
  });
  t.diagnostic(describeKills(res));
  assert.ok(res.kills >= kills);
  assert.deepEqual(uncovered(res, { totalInput: input.length, oneToOne: true }), [], `kills spread over the run: ${res.progress.join(' ')}`);
  sameList(await committedValues(crashed, OUT), want, 'after runtime kills');
});

test('child program SIGKILLed (Python, replay): restarted and replayed, committed output equals the crash-free run\'s', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-childkill-');
  const kills = scaled(4, 25);
  const input = await transfers(scaled(40_000, 250_000), 7);
  await setup(dir, input);
  const res = await childKillLoop({
    dataDir: dir,
    args: execArgs('bank', BANK.python, '--commit-interval-ms', '10', '--max-restarts', '10'),
    kills,
    seed: 78,
    done: async () => (await probe(dir, 'bank', IN, OUT)).committed === input.length,
  });
  t.diagnostic(`${res.kills} child kills over ${res.lives} runtime lives, ${res.restarts} restarts`);
  assert.ok(res.kills >= kills);
  assert.equal(res.restarts, res.kills, 'every child kill made the runtime restart the program');
  assert.match(res.stderr, /was killed by SIGKILL; restarting from the last commit/);
  sameList(await committedValues(dir, OUT), expected(input), 'after child kills');
});
