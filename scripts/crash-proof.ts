// The long exactly-once proof (issue 4): 1,000,000 bank transfers and a
// topic-to-topic word count, each run once crash-free and once SIGKILLed at
// least 25 times (at start-up, mid-run, mid-checkpoint) and restarted until it
// exits 0; the committed outputs (per partition, in order) and the saved states
// must be identical. The short version runs in `npm test`
// (test/e2e/exactly-once.test.ts); the harness is test/fixtures/crash-harness.ts.
//
//   npm run build && node --import tsx scripts/crash-proof.ts [--transfers N] [--lines N] [--kills N] [--seed S]
//
// Prints each kill, then a PASS/FAIL summary; exits 1 on any failure.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BANK_APP,
  WORD_COUNT_APP,
  checkpointsOf,
  committedOutput,
  copyDataDir,
  crashLoop,
  generateLines,
  generateTransfers,
  savedState,
  setupDataDir,
  sluice,
  type TopicInput,
} from '../test/fixtures/crash-harness.ts';
import { referenceOutcomes, type Transfer } from '../examples/bank-transfers/reference.ts';
import { isDeepStrictEqual } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    transfers: { type: 'string', default: '1000000' },
    lines: { type: 'string', default: '100000' },
    kills: { type: 'string', default: '25' },
    seed: { type: 'string', default: '2024' },
    'commit-interval-ms': { type: 'string', default: '10' },
  },
});
const TRANSFERS = Number(opts.transfers);
const LINES = Number(opts.lines);
const KILLS = Number(opts.kills);
const SEED = Number(opts.seed);
const INTERVAL = opts['commit-interval-ms'];

interface Case {
  name: string;
  app: string;
  job: string;
  inputs: TopicInput[];
  outputs: { topic: string; partitions: number }[];
  inputTopic: string;
  outputTopic: string;
  totalInput: number;
  oneToOne: boolean;
  extraArgs: string[];
  /** An independent check of the crash-free output (e.g. against the sequential program). */
  check?: (out: Map<number, string[]>) => string | null;
}

function firstDifference(got: string[], want: string[]): string | null {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] !== want[i]) return `#${i} (got ${got.length} records, want ${want.length}): got ${got[i]} want ${want[i]}`;
  }
  return null;
}

async function prove(c: Case, root: string): Promise<{ ok: boolean; lines: string[] }> {
  const lines: string[] = [];
  const say = (l: string) => {
    console.log(`[${c.name}] ${l}`);
    lines.push(l);
  };
  const input = join(root, `${c.name}-input`);
  await setupDataDir(input, c.inputs, c.outputs);
  const clean = join(root, `${c.name}-clean`);
  const crashed = join(root, `${c.name}-crashed`);
  copyDataDir(input, clean);
  copyDataDir(input, crashed);
  rmSync(input, { recursive: true, force: true });
  const args = ['run', c.app, '--until-end', '--commit-interval-ms', INTERVAL, ...c.extraArgs];
  const t0 = performance.now();
  const cleanRun = await sluice(args, clean);
  say(`crash-free run: ${cleanRun.stderr.trim()}`);
  const want = await committedOutput(clean, c.outputTopic);
  const wantState = await savedState(clean, c.job);
  const problems: string[] = [];
  const checked = c.check?.(want);
  if (checked) problems.push(`crash-free output fails its own check: ${checked}`);
  const res = await crashLoop({
    dataDir: crashed,
    args,
    kills: KILLS,
    seed: SEED,
    checkpoints: checkpointsOf(cleanRun),
    totalInput: c.totalInput,
    group: c.job,
    inputTopic: c.inputTopic,
    outputTopic: c.outputTopic,
    oneToOne: c.oneToOne,
    log: say,
  });
  say(`final run: ${res.finalRun?.stderr.trim()}`);
  const got = await committedOutput(crashed, c.outputTopic);
  let records = 0;
  for (const p of new Set([...want.keys(), ...got.keys()])) {
    const d = firstDifference(got.get(p) ?? [], want.get(p) ?? []);
    if (d) problems.push(`output partition ${p} differs at ${d}`);
    records += want.get(p)?.length ?? 0;
  }
  if (!isDeepStrictEqual(await savedState(crashed, c.job), wantState)) problems.push('the saved state differs');
  const summary =
    `${res.kills} SIGKILLs (${res.early} during start-up/recovery${c.oneToOne ? `, ${res.midCheckpoint} detected mid-checkpoint` : ''}), ` +
    `${c.totalInput.toLocaleString('en-US')} inputs, ${records.toLocaleString('en-US')} output records compared in ${want.size} partition(s), state compared; ` +
    `${((performance.now() - t0) / 1000).toFixed(0)} s`;
  for (const p of problems) say(`FAIL: ${p}`);
  return { ok: problems.length === 0 && res.kills >= KILLS, lines: [summary, ...problems] };
}

async function main(): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), 'sluice-crash-proof-'));
  const results: { name: string; ok: boolean; lines: string[] }[] = [];
  try {
    console.log(`generating ${TRANSFERS.toLocaleString('en-US')} transfers and ${LINES.toLocaleString('en-US')} lines (seed ${SEED}) in ${root}`);
    const transfers = await generateTransfers(TRANSFERS, SEED);
    const reference = referenceOutcomes(transfers.map((l) => JSON.parse(l) as Transfer)).map((o) => JSON.stringify(o));
    const lines = generateLines(LINES, SEED);
    const cases: Case[] = [
      {
        name: 'bank-transfers',
        app: BANK_APP,
        job: 'bank-transfers',
        inputs: [{ topic: 'transfers', partitions: 1, values: transfers, keyOf: (v) => (JSON.parse(v) as Transfer).source }],
        outputs: [{ topic: 'transfer-outcomes', partitions: 1 }],
        inputTopic: 'transfers',
        outputTopic: 'transfer-outcomes',
        totalInput: TRANSFERS,
        oneToOne: true,
        extraArgs: [],
        check: (out) => firstDifference((out.get(0) ?? []).map((l) => JSON.stringify((JSON.parse(l) as { value: unknown }).value)), reference),
      },
      {
        name: 'word-count',
        app: WORD_COUNT_APP,
        job: 'word-count-topics',
        inputs: [{ topic: 'lines', partitions: 4, values: lines.map((l) => JSON.stringify(l)) }],
        outputs: [{ topic: 'counts', partitions: 3 }],
        inputTopic: 'lines',
        outputTopic: 'counts',
        totalInput: LINES,
        oneToOne: false,
        extraArgs: [],
      },
    ];
    for (const c of cases) {
      try {
        results.push({ name: c.name, ...(await prove(c, root)) });
      } catch (e) {
        results.push({ name: c.name, ok: false, lines: [`error: ${(e as Error).stack ?? String(e)}`] });
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  console.log('\n== exactly-once crash proof ==');
  for (const r of results) {
    console.log(`${r.ok ? 'PASS' : 'FAIL'} ${r.name}: ${r.lines[0]}`);
    for (const l of r.lines.slice(1)) console.log(`     ${l}`);
  }
  const ok = results.length > 0 && results.every((r) => r.ok);
  console.log(ok ? 'PASS: committed output and state equal the crash-free runs' : 'FAIL');
  return ok ? 0 : 1;
}

process.exitCode = await main();
