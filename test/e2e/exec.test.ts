// `sluice exec` (issue 5), proven on the built CLI with real programs: the
// essay's bank-transfer program in Python (orjson), jq and Node gives the
// sequential reference's outcomes; SIGKILLs of the runtime (25, seeded, at
// start-up, mid-run, mid-checkpoint) and separately of the child program (25;
// the runtime restarts it and replays its journal) leave the committed output
// equal to a crash-free run's; --protocol recovers without replay; --stateless
// survives kills; --instances 2 gives each key the single instance's answers;
// broken programs fail clearly without losing or duplicating committed output.
//
// The long version (1,000,000 transfers) is scripts/exec-proof.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import {
  copyDataDir,
  crashLoop,
  generateTransfers,
  probe,
  setupDataDir,
  sluice,
  spawnSluice,
  type TopicInput,
} from '../fixtures/crash-harness.ts';
import { BANK, EXAMPLES, PROGRAMS, childKillLoop, committedValues, execCheckpoints, missingTools } from '../exec/harness.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { referenceOutcomes, type Transfer } from '../../examples/bank-transfers/reference.ts';

const skip = missingTools() ?? false;
const KILLS = 25;
const IN = 'transfers';
const OUT = 'transfer-outcomes';

function sameList(got: string[], want: string[], what: string): void {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] !== want[i]) assert.fail(`${what}: first difference at #${i} (got ${got.length} records, want ${want.length}):\n  got  ${got[i]}\n  want ${want[i]}`);
  }
}

const transferCache = new Map<string, string[]>();
async function transfers(n: number, seed: number): Promise<string[]> {
  const k = `${n}/${seed}`;
  if (!transferCache.has(k)) transferCache.set(k, await generateTransfers(n, seed));
  return transferCache.get(k)!;
}

const expected = (lines: string[]) => referenceOutcomes(lines.map((l) => JSON.parse(l) as Transfer)).map((o) => JSON.stringify(o));

async function setup(dir: string, values: string[], extra: TopicInput[] = []): Promise<void> {
  await setupDataDir(dir, [{ topic: IN, partitions: 1, values }, ...extra], [{ topic: OUT, partitions: 1 }]);
}

const execArgs = (job: string, program: string[], ...flags: string[]) => ['exec', '--input', IN, '--output', OUT, '--job', job, '--until-end', ...flags, '--', ...program];

for (const lang of ['python', 'jq', 'node'] as const) {
  test(`${lang}: the bank-transfer program under sluice exec gives the reference outcomes (20,000 transfers)`, { skip }, async (t) => {
    const dir = tmpDir(t, `sluice-exec-${lang}-`);
    const input = await transfers(20_000, 5);
    await setup(dir, input);
    const r = await sluice(execArgs('bank', BANK[lang], '--commit-interval-ms', '20'), dir);
    assert.match(r.stderr, /20000 inputs, 20000 outputs committed/);
    sameList(await committedValues(dir, OUT), expected(input), `${lang} outcomes`);
  });
}

test(`runtime SIGKILLed ${KILLS} times (Python, replay): committed output equals the crash-free run's`, { skip }, async (t) => {
  const root = tmpDir(t, 'sluice-exec-kill-');
  const input = await transfers(60_000, 6);
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
    kills: KILLS,
    seed: 77,
    checkpoints: execCheckpoints(cleanRun),
    totalInput: input.length,
    group: 'bank',
    inputTopic: IN,
    outputTopic: OUT,
    oneToOne: true,
  });
  t.diagnostic(`${res.kills} runtime kills (${res.early} at start-up, ${res.midCheckpoint} mid-checkpoint); committed after each: ${res.progress.join(' ')}`);
  assert.ok(res.kills >= KILLS);
  sameList(await committedValues(crashed, OUT), want, 'after runtime kills');
});

test(`child program SIGKILLed ${KILLS} times (Python, replay): restarted and replayed, committed output equals the crash-free run's`, { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-childkill-');
  const input = await transfers(250_000, 7);
  await setup(dir, input);
  const res = await childKillLoop({
    dataDir: dir,
    args: execArgs('bank', BANK.python, '--commit-interval-ms', '10', '--max-restarts', '10'),
    kills: KILLS,
    seed: 78,
    done: async () => (await probe(dir, 'bank', IN, OUT)).committed === input.length,
  });
  t.diagnostic(`${res.kills} child kills over ${res.lives} runtime lives, ${res.restarts} restarts`);
  assert.ok(res.kills >= KILLS);
  assert.equal(res.restarts, res.kills, 'every child kill made the runtime restart the program');
  assert.match(res.stderr, /was killed by SIGKILL; restarting from the last commit/);
  sameList(await committedValues(dir, OUT), expected(input), 'after child kills');
});

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

interface ExecState {
  journal: number;
  outputs: number;
  snapshot?: { journal: number; outputs: number; journalOffset: number; state: unknown };
}

/**
 * The newest committed ["exec", 0] state of an exec job (from `<job>-changelog`), read
 * in-process: `sluice consume` would wait for the killed run's open transaction (reported bug).
 */
async function execState(dir: string, job: string): Promise<ExecState | undefined> {
  const log = await openFileLog({ dataDir: dir, readOnly: true });
  try {
    let last: ExecState | undefined;
    for (let offset = 0; ; ) {
      const r = await log.read(`${job}-changelog`, 0, offset);
      for (const rec of r.records) {
        if (rec.key && rec.value && Buffer.from(rec.key).toString() === '["exec",0]') last = JSON.parse(Buffer.from(rec.value).toString()) as ExecState;
      }
      if (r.nextOffset >= r.highWatermark) return last;
      offset = r.nextOffset;
    }
  } finally {
    await log.close();
  }
}

for (const [name, program] of [
  ['Python', ['python3', EXAMPLES.pyProtocol]],
  ['Node', [process.execPath, EXAMPLES.mjsProtocol]],
] as const) {
  test(`--protocol (${name}): correct outcomes after runtime kills, and recovery replays nothing`, { skip }, async (t) => {
    const dir = tmpDir(t, 'sluice-exec-protocol-');
    const input = await transfers(20_000, 8);
    await setup(dir, input);
    const args = execArgs('bank', [...program], '--protocol', '--commit-interval-ms', '10');
    // One kill mid-run: the committed state then must need no replay at all.
    await killAfterCheckpoints(dir, args, 5);
    const mid = await execState(dir, 'bank');
    assert.ok(mid?.snapshot && mid.journal > 0 && mid.journal < input.length, `killed mid-run: ${JSON.stringify(mid?.journal)}`);
    assert.equal(mid.journal - mid.snapshot.journal, 0, 'after a kill, a restart replays nothing');
    const res = await crashLoop({ dataDir: dir, args, kills: 8, seed: 79, checkpoints: 20, totalInput: input.length, group: 'bank', inputTopic: IN, outputTopic: OUT, oneToOne: true });
    assert.ok(res.kills >= 8);
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

test('--stateless (jq): output exact after 10 runtime kills (the program is rotated at each checkpoint)', { skip }, async (t) => {
  const root = tmpDir(t, 'sluice-exec-stateless-');
  const dir = join(root, 'crashed');
  const clean = join(root, 'clean');
  const input = await transfers(150_000, 9);
  await setup(dir, input);
  copyDataDir(dir, clean);
  const args = execArgs('seen', ['jq', '-c', '. + {seen: true}'], '--stateless', '--commit-interval-ms', '10');
  const checkpoints = execCheckpoints(await sluice(args, clean));
  const res = await crashLoop({ dataDir: dir, args, kills: 10, seed: 80, checkpoints, totalInput: input.length, group: 'seen', inputTopic: IN, outputTopic: OUT, oneToOne: true });
  t.diagnostic(`${res.kills} kills; committed after each: ${res.progress.join(' ')}`);
  assert.ok(res.kills >= 10);
  sameList(await committedValues(dir, OUT), input.map((l) => JSON.stringify({ ...(JSON.parse(l) as object), seen: true })), '--stateless after kills');
});

test('--instances 2 --partition-by source: per-key results equal the single-instance run (after 5 runtime kills)', { skip }, async (t) => {
  const root = tmpDir(t, 'sluice-exec-instances-');
  const input = await transfers(100_000, 10);
  const one = join(root, 'one');
  const two = join(root, 'two');
  await setup(one, input);
  copyDataDir(one, two);
  const program = ['python3', PROGRAMS.perSource];
  await sluice(execArgs('sums', program, '--output-key-field', 'source'), one);
  const args = execArgs('sums', program, '--output-key-field', 'source', '--instances', '2', '--partition-by', 'source', '--commit-interval-ms', '5');
  const res = await crashLoop({ dataDir: two, args, kills: 5, seed: 81, checkpoints: 50, totalInput: input.length, group: 'sums', inputTopic: IN, outputTopic: OUT, oneToOne: true });
  assert.ok(res.kills >= 5);
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

test('a program that prints a non-JSON line: a clear error naming the instance and the line, after --max-restarts', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-notjson-');
  const values = Array.from({ length: 200 }, (_, i) => JSON.stringify(i === 150 ? { k: 'x', poison: true } : { k: `k${i}`, i }));
  await setup(dir, values);
  const { child, done } = spawnSluice(execArgs('bad', ['python3', PROGRAMS.echoCount, 'not-json'], '--instances', '2', '--partition-by', 'k', '--max-restarts', '2'), dir);
  void child;
  const r = await done;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /bad#[01]: output line \d+ is not JSON: "this is not json"/);
  assert.match(r.stderr, /gave up after 2 restarts/);
  assert.equal((r.stderr.match(/restarting from the last commit/g) ?? []).length, 2);
});

test('a program that exits non-zero: restarts with backoff up to --max-restarts, then a clear error; nothing committed lost or duplicated', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-exit-');
  const first = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ i }));
  const second = Array.from({ length: 1000 }, (_, i) => JSON.stringify(i === 500 ? { i: 1000 + i, poison: true } : { i: 1000 + i }));
  const all = [...first, ...second];
  const want = all.map((v, i) => JSON.stringify({ n: i + 1, v: JSON.parse(v) as unknown }));
  await setup(dir, first);
  await sluice(execArgs('flaky', ['python3', PROGRAMS.echoCount]), dir);
  sameList(await committedValues(dir, OUT), want.slice(0, 1000), 'first run');
  const produce = await import('../helpers/cli.ts').then((m) => m.runCli(['produce', IN], { dataDir: dir, input: second.join('\n') + '\n' }));
  assert.equal(produce.code, 0, produce.stderr);

  const failed = await spawnSluice(execArgs('flaky', ['python3', PROGRAMS.echoCount], '--max-restarts', '3'), dir).done;
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /flaky: the program exited with code 3; restarting from the last commit in 100 ms/);
  assert.match(failed.stderr, /in 200 ms/);
  assert.match(failed.stderr, /in 400 ms/);
  assert.match(failed.stderr, /flaky: the program exited with code 3; gave up after 3 restarts\. Nothing committed is lost/);
  const kept = await committedValues(dir, OUT);
  assert.ok(kept.length >= 1000 && kept.length < 1500, `committed ${kept.length}: the first run's outputs and no more than the inputs before the failing one`);
  sameList(kept, want.slice(0, kept.length), 'after the failure: a prefix');

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

test('replay that takes over a second shows a progress bar on stderr', { skip }, async (t) => {
  const dir = tmpDir(t, 'sluice-exec-progress-');
  const input = await transfers(30_000, 11);
  await setup(dir, input.slice(0, 29_999));
  await sluice(execArgs('bank', BANK.jq), dir);
  const { runCli } = await import('../helpers/cli.ts');
  assert.equal((await runCli(['produce', IN], { dataDir: dir, input: input[29_999] + '\n' })).code, 0);
  const r = await sluice(execArgs('bank', BANK.jq), dir);
  assert.match(r.stderr, /bank: replaying \[#*\.*\] +\d+% [\d,]+\/29,999 inputs/);
  assert.match(r.stderr, /bank: replayed 29,999 inputs in [\d.]+ s/);
  sameList(await committedValues(dir, OUT), expected(input), 'outcomes after the replay');
});
