// The long `sluice exec` proof (issue 5): the essay's bank-transfer program in
// Python (orjson) on 1,000,000 transfers, run once crash-free and then
//   1. with the runtime SIGKILLed at least 25 times (start-up, mid-run, mid-checkpoint),
//   2. with the child program SIGKILLed at least 25 times (the runtime restarts it and replays),
// each restarted until it exits 0; the committed outputs must equal the
// crash-free run's and the sequential reference, record for record. The short
// version runs in `npm test` (test/e2e/exec.test.ts).
//
//   npm run build && node --import tsx scripts/exec-proof.ts [--transfers N] [--kills N] [--seed S] [--program python|jq|node]
//
// Prints each kill, then PASS/FAIL; exits 1 on any failure.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { copyDataDir, crashLoop, generateTransfers, probe, setupDataDir, sluice } from '../test/fixtures/crash-harness.ts';
import { BANK, childKillLoop, committedValues, execCheckpoints, missingTools } from '../test/exec/harness.ts';
import { referenceOutcomes, type Transfer } from '../examples/bank-transfers/reference.ts';

const { values: opts } = parseArgs({
  options: {
    transfers: { type: 'string', default: '1000000' },
    kills: { type: 'string', default: '25' },
    seed: { type: 'string', default: '1978' },
    program: { type: 'string', default: 'python' },
    'commit-interval-ms': { type: 'string', default: '10' },
  },
});
const N = Number(opts.transfers);
const KILLS = Number(opts.kills);
const SEED = Number(opts.seed);
const program = BANK[opts.program as keyof typeof BANK];
if (!program) throw new Error(`--program: python, jq or node`);
const missing = missingTools();
if (missing) {
  console.log(`SKIP: ${missing}`);
  process.exit(0);
}

const IN = 'transfers';
const OUT = 'transfer-outcomes';
const JOB = 'bank';
const args = ['exec', '--input', IN, '--output', OUT, '--job', JOB, '--until-end', '--commit-interval-ms', opts['commit-interval-ms'], '--max-restarts', '10', '--', ...program];
const root = mkdtempSync(join(tmpdir(), 'sluice-exec-proof-'));
let failed = false;
const t0 = performance.now();
const say = (s: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${s}`);

function compare(got: string[], want: string[], what: string): void {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] !== want[i]) {
      failed = true;
      say(`FAIL ${what}: first difference at #${i} (got ${got.length}, want ${want.length}):\n  got  ${got[i]}\n  want ${want[i]}`);
      return;
    }
  }
  say(`PASS ${what}: ${got.length.toLocaleString('en-US')} outcomes identical`);
}

try {
  say(`generating ${N.toLocaleString('en-US')} transfers (seed ${SEED}); program: ${program.join(' ')}`);
  const transfers = await generateTransfers(N, SEED);
  const reference = referenceOutcomes(transfers.map((l) => JSON.parse(l) as Transfer)).map((o) => JSON.stringify(o));
  const base = join(root, 'input');
  await setupDataDir(base, [{ topic: IN, partitions: 1, values: transfers }], [{ topic: OUT, partitions: 1 }]);
  const dirs = { clean: join(root, 'clean'), runtime: join(root, 'runtime-kills'), child: join(root, 'child-kills') };
  for (const d of Object.values(dirs)) copyDataDir(base, d);
  rmSync(base, { recursive: true, force: true });

  const cleanRun = await sluice(args, dirs.clean);
  say(`crash-free run: ${cleanRun.stderr.trim()}`);
  const want = await committedValues(dirs.clean, OUT);
  compare(want, reference, 'crash-free run vs the sequential reference');

  const r = await crashLoop({
    dataDir: dirs.runtime, args, kills: KILLS, seed: SEED, checkpoints: execCheckpoints(cleanRun), totalInput: N,
    group: JOB, inputTopic: IN, outputTopic: OUT, oneToOne: true, log: (l) => say(`runtime ${l}`),
  });
  say(`runtime: ${r.kills} SIGKILLs (${r.early} at start-up, ${r.midCheckpoint} mid-checkpoint); last run: ${r.finalRun?.stderr.trim()}`);
  compare(await committedValues(dirs.runtime, OUT), want, `after ${r.kills} runtime SIGKILLs`);

  const c = await childKillLoop({
    dataDir: dirs.child, args, kills: KILLS, seed: SEED + 1,
    done: async () => (await probe(dirs.child, JOB, IN, OUT)).committed === N, log: (l) => say(l),
  });
  say(`child: ${c.kills} SIGKILLs of the program over ${c.lives} runtime lives, ${c.restarts} restarts`);
  if (c.restarts !== c.kills) {
    failed = true;
    say(`FAIL: ${c.kills} child kills but ${c.restarts} restarts`);
  }
  compare(await committedValues(dirs.child, OUT), want, `after ${c.kills} child SIGKILLs`);
} catch (e) {
  failed = true;
  say(`FAIL: ${(e as Error).stack ?? String(e)}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
say(failed ? 'FAIL' : 'PASS: every committed output equals the crash-free run and the sequential reference');
process.exit(failed ? 1 : 0);
