// Exactly-once, proven by killing real processes (issue 4, "Proof"): the built
// CLI runs a job with `--until-end` and is SIGKILLed at seeded-random moments —
// during start-up and recovery, between checkpoints, and (with a 10 ms commit
// interval) often in the middle of a checkpoint's transaction — and restarted
// each time until it exits 0. Its committed output (read_committed, through
// `sluice consume`) and its saved state (`sluice state`) must then equal those
// of one crash-free run on a copy of the same data dir, record for record, per
// partition, in order. Plus: a second instance of a job (the zombie case) and
// disk faults injected under a running job. The word count's crash test is
// exactly-once-word-count.test.ts (a file of its own, so the two run side by side).
//
// The harness is test/fixtures/crash-harness.ts. `npm test` kills each run a
// few times; `npm run proof` runs this file with 25 kills each
// (test/fixtures/proof-scale.ts) and scripts/crash-proof.ts (1,000,000 transfers).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import {
  BANK_APP,
  committedOutput,
  copyDataDir,
  generateTransfers,
  probe,
  setupDataDir,
  spawnSluice,
  sameList,
} from '../fixtures/crash-harness.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { bankCrashCase } from '../fixtures/bank-crash.ts';
import { scaled } from '../fixtures/proof-scale.ts';
import { build as buildBank } from '../../examples/bank-transfers/app.ts';
import { referenceOutcomes, type Transfer } from '../../examples/bank-transfers/reference.ts';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { realIo, setIo, type Io } from '../../src/log/file/io.ts';
import { Job } from '../../src/runtime/job.ts';
import { readChangelog } from '../../src/runtime/state-changelog.ts';
import { topicSink, topicSource } from '../../src/connectors/index.ts';
import { isSluiceError, type SluiceError } from '../../src/errors.ts';

const KILLS = scaled(6, 25);
const CRASH_TRANSFERS = scaled(30_000, 100_000); // 30 checkpoints or more: room for kills mid-run
const TRANSFERS = 100_000; // the lock test: long enough to be running when the second instance starts

const valueOf = (line: string) => (JSON.parse(line) as { value: unknown }).value;

test(`bank transfers: ${CRASH_TRANSFERS.toLocaleString('en-US')} transfers, SIGKILLed ${KILLS}+ times, give the crash-free run's output and state exactly`, async (t) => {
  const transfers = await generateTransfers(CRASH_TRANSFERS, 4242);
  const { res } = await bankCrashCase(t, { prefix: 'sluice-eo-bank-', values: transfers, keyOf: (v) => (JSON.parse(v) as Transfer).source, kills: KILLS, seed: 1 });
  assert.ok(res.kills >= KILLS);
});

// ---- zombies ------------------------------------------------------------------

test('a second `sluice run` of the same job on the same data dir goes through the first (its holder) and fences it: the first stops FENCED, the second finishes, output exactly-once', async (t) => {
  const root = tmpDir(t, 'sluice-eo-lock-');
  const transfers = await generateTransfers(TRANSFERS, 99);
  const dir = join(root, 'd');
  await setupDataDir(dir, [{ topic: 'transfers', partitions: 1, values: transfers }], [{ topic: 'transfer-outcomes', partitions: 1 }]);
  const args = ['run', BANK_APP, '--until-end', '--commit-interval-ms', '5'];
  const first = spawnSluice(args, dir);
  // Wait until the first holds the lock and has registered its producer (its first transaction-log write).
  while (!existsSync(join(dir, 'transactions', 'txn.log')) || (await probe(dir, 'bank-transfers', 'transfers', 'transfer-outcomes')).committed === 0) {
    if (first.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const second = spawnSluice(args, dir);
  const r2 = await second.done;
  const r1 = await first.done;
  // Unless the first had finished already (a fast machine), the second replaced it.
  if (r1.code !== 0) assert.match(r1.stderr, /^sluice: producer sluice-job:bank-transfers .* was replaced by a newer instance/m);
  assert.equal(r2.code, 0, r2.stderr);
  const got = await committedOutput(dir, 'transfer-outcomes');
  const reference = referenceOutcomes(transfers.map((l) => JSON.parse(l) as Transfer)).map((o) => JSON.stringify(o));
  sameList(got.get(0)?.map((l) => JSON.stringify(valueOf(l))), reference, 'output vs reference.ts');
});

function bankApp() {
  return buildBank({ transfers: topicSource({ topic: 'transfers' }), outcomes: topicSink({ topic: 'transfer-outcomes' }) });
}

async function readCommitted(log: FileLog, topic: string, partition = 0): Promise<string[]> {
  const out: string[] = [];
  let offset = 0;
  for (;;) {
    const r = await log.read(topic, partition, offset, { isolation: 'read_committed' });
    for (const x of r.records) out.push(Buffer.from(x.value!).toString('utf8'));
    if (r.nextOffset >= r.highWatermark) return out;
    offset = r.nextOffset;
  }
}

/**
 * The saved states, parsed: a tracked state's entries may come back in another order than
 * they were created in (docs/state.md), so the states are compared as values, not as text.
 */
async function savedStates(log: FileLog): Promise<unknown[]> {
  return (await readChangelog(log, 'bank-transfers')).states.map((c) => ({ ...c, state: c.state === '' ? '' : (JSON.parse(c.state) as unknown) }));
}

/** A crash-free in-process run of the bank job on a copy of `input`: its output and saved state. */
async function cleanBankRun(input: string, dir: string): Promise<{ out: string[]; state: unknown }> {
  copyDataDir(input, dir);
  const log = await openFileLog({ dataDir: dir });
  try {
    await new Job(bankApp(), { log, untilEnd: true, commitIntervalMs: 10 }).run();
    return { out: await readCommitted(log, 'transfer-outcomes'), state: await savedStates(log) };
  } finally {
    await log.close();
  }
}

const IN_PROCESS_TRANSFERS = 40_000;

// Two ways this used to fail (both fixed in src, kept here as the regression test): the
// second job read its group's offsets before it fenced the first, and a commit of the
// first that passed its fencing check before the registration still completed after it.
test(
  'in-process zombie: a second Job of the same app fences the first; its next checkpoint fails FENCED; output stays exactly-once',
  async (t) => {
  const root = tmpDir(t, 'sluice-eo-zombie-');
  const transfers = await generateTransfers(IN_PROCESS_TRANSFERS, 5);
  const input = join(root, 'input');
  await setupDataDir(input, [{ topic: 'transfers', partitions: 1, values: transfers }], [{ topic: 'transfer-outcomes', partitions: 1 }]);
  const clean = await cleanBankRun(input, join(root, 'clean'));
  assert.equal(clean.out.length, IN_PROCESS_TRANSFERS);
  const dir = join(root, 'd');
  copyDataDir(input, dir);
  const log = await openFileLog({ dataDir: dir });
  try {
    // Small batches and a 1 ms interval keep the first job checkpointing for a while.
    const first = new Job(bankApp(), { log, untilEnd: true, commitIntervalMs: 1, maxBatchRecords: 50 });
    const firstRun = first.run();
    let firstError: unknown = null;
    const firstDone = firstRun.then(
      (r) => r,
      (e: unknown) => ((firstError = e), null),
    );
    for (;;) {
      const c = (await log.committedOffsets('bank-transfers')).find((o) => o.topic === 'transfers')?.offset ?? 0;
      if (c >= IN_PROCESS_TRANSFERS / 10) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    const second = new Job(bankApp(), { log, untilEnd: true, commitIntervalMs: 10 });
    const secondResult = await second.run();
    const firstResult = await firstDone;
    assert.equal(firstResult, null, 'the first (zombie) job must not finish normally');
    assert.ok(isSluiceError(firstError, 'FENCED'), `the zombie stops with FENCED, got ${String(firstError)}`);
    assert.ok(secondResult.recordsIn < IN_PROCESS_TRANSFERS, `the second resumed from the first's last checkpoint (${secondResult.recordsIn} records in)`);
    const out = await readCommitted(log, 'transfer-outcomes');
    sameList(out, clean.out, 'output after the zombie vs crash-free');
    assert.deepEqual(await savedStates(log), clean.state);
  } finally {
    await log.close();
  }
  },
);

test(
  'two transactional producers committing at the same time on one FileLog: both commits survive a reopen',
  async (t) => {
  // A zombie and its replacement (or any two jobs sharing a log in one process, or
  // two clients of one `sluice serve`) commit concurrently. Each commit record must
  // reach the transaction log whole.
  const dir = tmpDir(t, 'sluice-eo-txnrace-');
  let log = await openFileLog({ dataDir: dir });
  try {
    await log.createTopic('out');
    const a = await log.initProducer('A');
    const b = await log.initProducer('B');
    const rec = (v: string) => ({ topic: 'out', partition: 0, records: [{ key: null, value: Buffer.from(v) }] });
    await Promise.all([log.commitTransaction(a, 1, { writes: [rec('a1')], offsets: [] }), log.commitTransaction(b, 1, { writes: [rec('b1')], offsets: [] })]);
    assert.deepEqual((await readCommitted(log, 'out')).sort(), ['a1', 'b1']);
    await log.close();
    log = await openFileLog({ dataDir: dir });
    assert.deepEqual((await readCommitted(log, 'out')).sort(), ['a1', 'b1'], 'both acknowledged commits are still committed after a reopen');
  } finally {
    await log.close();
  }
  },
);

// ---- disk faults --------------------------------------------------------------

function errno(code: 'ENOSPC' | 'EIO', syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected fault, ${syscall}`), { code, syscall, errno: code === 'EIO' ? -5 : -28 });
}

for (const fault of [
  { name: 'disk full (writev fails with ENOSPC)', call: 'writev' as const, code: 'ENOSPC' as const },
  { name: 'fsync error (fdatasync fails with EIO)', call: 'fdatasync' as const, code: 'EIO' as const },
]) {
  test(`${fault.name} under a running job: it stops with a clear error; restarted, nothing lost, nothing duplicated`, async (t) => {
    const root = tmpDir(t, 'sluice-eo-disk-');
    const transfers = await generateTransfers(IN_PROCESS_TRANSFERS, 6);
    const input = join(root, 'input');
    await setupDataDir(input, [{ topic: 'transfers', partitions: 1, values: transfers }], [{ topic: 'transfer-outcomes', partitions: 1 }]);
    // How many such calls a crash-free run makes, to strike in the middle.
    let calls = 0;
    setIo({ ...realIo, [fault.call]: (...a: unknown[]) => (calls++, (realIo[fault.call] as (...x: unknown[]) => Promise<unknown>)(...a)) } as Io);
    let clean;
    try {
      clean = await cleanBankRun(input, join(root, 'clean'));
    } finally {
      setIo(realIo);
    }
    assert.ok(calls > 20, `${calls} ${fault.call} calls`);
    const dir = join(root, 'd');
    copyDataDir(input, dir);
    let log = await openFileLog({ dataDir: dir });
    let error: unknown = null;
    try {
      let n = 0;
      const failAfter = Math.floor(calls / 2);
      setIo({
        ...realIo,
        [fault.call]: (...a: unknown[]) => (++n > failAfter ? Promise.reject(errno(fault.code, fault.call)) : (realIo[fault.call] as (...x: unknown[]) => Promise<unknown>)(...a)),
      } as Io);
      await new Job(bankApp(), { log, untilEnd: true, commitIntervalMs: 10 }).run().catch((e: unknown) => (error = e));
    } finally {
      setIo(realIo);
      await log.close().catch(() => {});
    }
    assert.ok(error, 'the job must stop');
    const message = (error as Error).message;
    assert.ok(isSluiceError(error, 'IO_ERROR') || message.includes(fault.code), `a clear error (IO_ERROR or ${fault.code}), got ${(error as SluiceError).code}: ${message}`);
    log = await openFileLog({ dataDir: dir });
    try {
      const before = (await log.committedOffsets('bank-transfers')).find((o) => o.topic === 'transfers')?.offset ?? 0;
      assert.ok(before > 0 && before < IN_PROCESS_TRANSFERS, `the fault struck mid-run (committed ${before})`);
      await new Job(bankApp(), { log, untilEnd: true, commitIntervalMs: 10 }).run();
      sameList(await readCommitted(log, 'transfer-outcomes'), clean.out, 'output after the fault and a restart vs crash-free');
      assert.deepEqual(await savedStates(log), clean.state);
    } finally {
      await log.close();
    }
  });
}
