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
import { prng } from '../fixtures/crash-harness.ts';
import { bankCrashCase } from '../fixtures/bank-crash.ts';
import { scaled } from '../fixtures/proof-scale.ts';
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

test(`bank transfers over ${ACCOUNTS.toLocaleString('en-US')} accounts (a tracked global ledger), SIGKILLed ${KILLS}+ times, give the crash-free run's output and state exactly`, async (t) => {
  const { crashed } = await bankCrashCase(t, { prefix: 'sluice-eo-big-', values: transfers(), kills: KILLS, seed: 15 });

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
