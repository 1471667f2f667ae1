// `sluice exec` (issue 5), proven on the built CLI with real programs: the
// essay's bank-transfer program in Python (orjson), jq and Node gives the
// sequential reference's outcomes; --protocol recovers without replay after
// runtime kills; --stateless survives kills; --instances 2 gives each key the
// single instance's answers; a restart replays its journal.
//
// Kill loops of the runtime and of the child program: test/e2e/exec-kills.test.ts.
// Broken programs: test/e2e/exec-failures.test.ts. The long version
// (1,000,000 transfers) is scripts/exec-proof.ts; SLUICE_PROOF=1 makes the
// loops here longer (test/fixtures/proof-scale.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { copyDataDir, crashLoop, sluice, spawnSluice } from '../fixtures/crash-harness.ts';
import { scaled } from '../fixtures/proof-scale.ts';
import { BANK, EXAMPLES, IN, OUT, PROGRAMS, committedValues, execArgs, execCheckpoints, execState, expected, missingTools, sameList, setup, transfers } from '../exec/harness.ts';
import { runCli } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const skip = missingTools() ?? false;

for (const lang of ['python', 'jq', 'node'] as const) {
  test(`${lang}: the bank-transfer program under sluice exec gives the reference outcomes (5,000 transfers)`, { skip }, async (t) => {
    const dir = tmpDir(t, `sluice-exec-${lang}-`);
    const input = await transfers(5_000, 5);
    await setup(dir, input);
    const r = await sluice(execArgs('bank', BANK[lang], '--commit-interval-ms', '20'), dir);
    assert.match(r.stderr, /5000 inputs, 5000 outputs committed/);
    sameList(await committedValues(dir, OUT), expected(input), `${lang} outcomes`);
  });
}

/** Starts the job and SIGKILLs it after `n` checkpoints (transaction-log growths). */
async function killAfterCheckpoints(dir: string, args: string[], n: number): Promise<void> {
  const txn = join(dir, 'transactions', 'txn.log');
  const size = () => statSync(txn, { throwIfNoEntry: false })?.size ?? -1;
  const { child, done } = spawnSluice(args, dir);
  let last = size();
  let growths = 0;
  const poll = setInterval(() => {
    if (size() !== last) {
      last = size();
      if (++growths > n) child.kill('SIGKILL');
    }
  }, 1);
  const r = await done;
  clearInterval(poll);
  assert.equal(r.signal, 'SIGKILL', `the job was killed mid-run (it exited ${r.code}: ${r.stderr})`);
}

for (const [name, program] of [
  ['Python', ['python3', EXAMPLES.pyProtocol]],
  ['Node', [process.execPath, EXAMPLES.mjsProtocol]],
] as const) {
  test(`--protocol (${name}): correct outcomes after runtime kills, and recovery replays nothing`, { skip }, async (t) => {
    const dir = tmpDir(t, 'sluice-exec-protocol-');
    const input = await transfers(scaled(10_000, 20_000), 8);
    await setup(dir, input);
    const args = execArgs('bank', [...program], '--protocol', '--commit-interval-ms', '10');
    // One kill mid-run: the committed state then must need no replay at all.
    await killAfterCheckpoints(dir, args, 2);
    const mid = await execState(dir, 'bank');
    assert.ok(mid?.snapshot && mid.journal > 0 && mid.journal < input.length, `killed mid-run: ${JSON.stringify(mid?.journal)}`);
    assert.equal(mid.journal - mid.snapshot.journal, 0, 'after a kill, a restart replays nothing');
    const kills = scaled(2, 8);
    const res = await crashLoop({ dataDir: dir, args, kills, seed: 79, checkpoints: 20, totalInput: input.length, group: 'bank', inputTopic: IN, outputTopic: OUT, oneToOne: true });
    assert.ok(res.kills >= kills);
    // Every checkpoint carries the program's state: what a restart would replay is journal - snapshot.journal.
    const st = await execState(dir, 'bank');
    assert.ok(st?.snapshot, 'the committed exec state has a snapshot');
    assert.equal(st.journal, input.length);
    assert.equal(st.journal - st.snapshot.journal, 0, 'a restart replays nothing');
    assert.equal(Object.keys(st.snapshot.state as object).length > 100, true, 'the snapshot holds the balances');
    assert.doesNotMatch(res.finalRun!.stderr, /replay/);
    sameList(await committedValues(dir, OUT), expected(input), `--protocol ${name} after kills`);
  });
}

test('--stateless (jq): output exact after runtime kills (the program is rotated at each checkpoint)', { skip }, async (t) => {
  const root = tmpDir(t, 'sluice-exec-stateless-');
  const dir = join(root, 'crashed');
  const clean = join(root, 'clean');
  const input = await transfers(scaled(8_000, 150_000), 9);
  await setup(dir, input);
  copyDataDir(dir, clean);
  const args = execArgs('seen', ['jq', '-c', '. + {seen: true}'], '--stateless', '--commit-interval-ms', '10');
  const checkpoints = execCheckpoints(await sluice(args, clean));
  const kills = scaled(2, 10);
  const res = await crashLoop({ dataDir: dir, args, kills, seed: 80, checkpoints, totalInput: input.length, group: 'seen', inputTopic: IN, outputTopic: OUT, oneToOne: true });
  t.diagnostic(`${res.kills} kills; committed after each: ${res.progress.join(' ')}`);
  assert.ok(res.kills >= kills);
  sameList(await committedValues(dir, OUT), input.map((l) => JSON.stringify({ ...(JSON.parse(l) as object), seen: true })), '--stateless after kills');
});

test('--instances 2 --partition-by source: per-key results equal the single-instance run (after runtime kills)', { skip }, async (t) => {
  const root = tmpDir(t, 'sluice-exec-instances-');
  const input = await transfers(scaled(8_000, 100_000), 10);
  const one = join(root, 'one');
  const two = join(root, 'two');
  await setup(one, input);
  copyDataDir(one, two);
  const program = ['python3', PROGRAMS.perSource];
  await sluice(execArgs('sums', program, '--output-key-field', 'source'), one);
  const args = execArgs('sums', program, '--output-key-field', 'source', '--instances', '2', '--partition-by', 'source', '--commit-interval-ms', '5');
  const kills = scaled(2, 5);
  const res = await crashLoop({ dataDir: two, args, kills, seed: 81, checkpoints: 50, totalInput: input.length, group: 'sums', inputTopic: IN, outputTopic: OUT, oneToOne: true });
  assert.ok(res.kills >= kills);
  const bySource = (lines: string[]) => {
    const m = new Map<string, string[]>();
    for (const l of lines) {
      const s = (JSON.parse(l) as { source: string }).source;
      if (!m.has(s)) m.set(s, []);
      m.get(s)!.push(l);
    }
    return m;
  };
  const want = bySource(await committedValues(one, OUT));
  const got = bySource(await committedValues(two, OUT));
  assert.ok(want.size > 500, 'many accounts');
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [k, list] of want) sameList(got.get(k)!, list, `account ${k}`);
  // Both instances did work: each journal partition holds inputs.
  const journal = (await sluice(['topic', 'describe', 'sums-journal'], two)).stdout;
  t.diagnostic(journal);
});

test('a restart with new input replays the journal first, and says so on stderr', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-progress-');
  const input = await transfers(3_000, 11);
  await setup(dir, input.slice(0, 2_999));
  await sluice(execArgs('bank', BANK.jq), dir);
  assert.equal((await runCli(['produce', IN], { dataDir: dir, input: input[2_999] + '\n' })).code, 0);
  const r = await sluice(execArgs('bank', BANK.jq), dir);
  assert.match(r.stderr, /bank: replayed 2,999 inputs in [\d.]+ s/);
  assert.doesNotMatch(r.stderr, /\r|\[#*\.*\]/, 'no progress bar when stderr is not a terminal');
  sameList(await committedValues(dir, OUT), expected(input), 'outcomes after the replay');
});
