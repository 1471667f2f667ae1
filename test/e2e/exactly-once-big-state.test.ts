// Exactly-once with a big global state (issue 15): the bank job's ledger holds
// tens of thousands of accounts, so each checkpoint saves its changed entries
// (path records on top of the ledger's root record) instead of the whole
// ledger. The built CLI is SIGKILLed at seeded-random moments, often in the
// middle of a checkpoint's transaction, and restarted until it exits 0: its
// committed output and saved state must equal those of a crash-free run, and
// the output the sequential program's answers. (Harness:
// test/fixtures/crash-harness.ts; the small ledger's test is exactly-once.test.ts.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  BANK_APP,
  checkpointsOf,
  committedOutput,
  copyDataDir,
  crashLoop,
  describeKills,
  prng,
  sameList,
  sameOutput,
  savedState,
  setupDataDir,
  sluice,
  uncovered,
} from '../fixtures/crash-harness.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { scaled } from '../fixtures/proof-scale.ts';
import { referenceOutcomes, type Transfer } from '../../examples/bank-transfers/reference.ts';
import { openFileLog } from '../../src/log/file/file-log.ts';
import { changelogTopic } from '../../src/runtime/state-changelog.ts';

const KILLS = scaled(5, 25);
const ACCOUNTS = 20_000;
const TRANSFERS = scaled(15_000, 200_000);

/** Funds every account from the sweep account, then random transfers among them. */
function transfers(): string[] {
  const rnd = prng(15);
  const acct = () => `acct-${Math.floor(rnd() * ACCOUNTS)}`;
  const out: string[] = [];
  for (let i = 0; i < ACCOUNTS; i++) out.push(JSON.stringify({ source: 'sweep', target: `acct-${i}`, amount: 1000 + Math.round(rnd() * 4000) }));
  for (let i = 0; i < TRANSFERS; i++) {
    const source = acct();
    let target = acct();
    while (target === source) target = acct();
    out.push(JSON.stringify({ source, target, amount: Math.round(rnd() * 200_000) / 100 }));
  }
  return out;
}

const valueOf = (line: string) => (JSON.parse(line) as { value: unknown }).value;

test(`bank transfers over ${ACCOUNTS.toLocaleString('en-US')} accounts (a tracked global ledger), SIGKILLed ${KILLS}+ times, give the crash-free run's output and state exactly`, async (t) => {
  const root = tmpDir(t, 'sluice-eo-big-');
  const input = join(root, 'input');
  const values = transfers();
  await setupDataDir(input, [{ topic: 'transfers', partitions: 1, values }], [{ topic: 'transfer-outcomes', partitions: 1 }]);
  const clean = join(root, 'clean');
  const crashed = join(root, 'crashed');
  copyDataDir(input, clean);
  copyDataDir(input, crashed);
  const args = ['run', BANK_APP, '--until-end', '--commit-interval-ms', '10'];

  const cleanRun = await sluice(args, clean);
  const want = await committedOutput(clean, 'transfer-outcomes');
  const wantState = await savedState(clean, 'bank-transfers');
  const reference = referenceOutcomes(values.map((l) => JSON.parse(l) as Transfer)).map((o) => JSON.stringify(o));
  sameList(want.get(0)?.map((l) => JSON.stringify(valueOf(l))), reference, 'crash-free run vs reference.ts');

  const res = await crashLoop({
    dataDir: crashed,
    args,
    kills: KILLS,
    seed: 15,
    checkpoints: checkpointsOf(cleanRun),
    totalInput: values.length,
    group: 'bank-transfers',
    inputTopic: 'transfers',
    outputTopic: 'transfer-outcomes',
    oneToOne: true,
    untilCovered: true,
  });
  t.diagnostic(describeKills(res));
  assert.deepEqual(uncovered(res, { totalInput: values.length, oneToOne: true }), [], `kills spread over the run: ${res.progress.join(' ')}`);
  const got = await committedOutput(crashed, 'transfer-outcomes');
  assert.equal(got.get(0)?.length, values.length, 'one outcome per transfer: no duplicates, none missing');
  sameOutput(got, want, 'crashed vs crash-free');
  assert.deepEqual(await savedState(crashed, 'bank-transfers'), wantState);

  // The ledger was saved by its changed entries: most changelog records are path records.
  const log = await openFileLog({ dataDir: crashed, readOnly: true });
  try {
    let paths = 0;
    let offset = (await log.endOffsets(changelogTopic('bank-transfers')))[0]!.startOffset;
    for (;;) {
      const r = await log.read(changelogTopic('bank-transfers'), 0, offset);
      for (const rec of r.records) if (rec.key && Buffer.from(rec.key).toString().startsWith('["path"')) paths++;
      if (r.records.length === 0 && r.nextOffset >= r.highWatermark) break;
      offset = r.nextOffset;
    }
    assert.ok(paths > TRANSFERS / 2, `${paths} path records: the ledger was tracked`);
  } finally {
    await log.close();
  }
});
