// How the cost of a job grows with the size of its state (issue 15's baseline):
// the real CLI (`sluice run --until-end`, exactly-once, in a child process) on
//
// * bank transfers (examples/bank-transfers/app.ts, one global ledger) at N
//   accounts: N deposits from the sweep account fund every account first,
//   then BENCH_STATE_TRANSFERS (default 200,000) random transfers between them;
// * a keyed word count (bench/apps/word-count.ts: 27 state partitions, one
//   `WORD => COUNT` line per word into a topic) at N distinct words: every
//   word once first (lines of 8), then BENCH_STATE_LINES (default 50,000)
//   lines of 8 words drawn with a skew (Zipf-like) from the N.
//
// Per size: CPU µs per event (user + system of the child, from its own
// process.resourceUsage, see bench/apps/child-usage.mjs), wall time, the bytes
// the child wrote (wchar of /proc/<pid>/io: every write(2), i.e. segments,
// indexes, offsets, transaction log; the data dir is the only thing it writes
// to with -q) per event, its peak RSS, the changelog topic's size on disk after
// the run, and the restart: the same job run again with nothing new (a second
// --until-end). Beside it, in this process, the same logic as a hand-written
// loop on a plain object / Map over the same input strings (CPU time), and the
// ratio loop CPU / Sluice CPU (Sluice's throughput per CPU-s as a share of the loop's).
//
//   npm run bench -- state-scaling
//   BENCH_STATE_SIZES=1000,100000,1000000 npm run bench -- state-scaling   # both jobs at these sizes
//   BENCH_STATE_ACCOUNTS=1000000 BENCH_STATE_WORDS= npm run bench -- state-scaling  # only bank transfers, 1M accounts
//   BENCH_STATE_BACKEND=disk BENCH_STATE_CACHE_MB=64 BENCH_STATE_ACCOUNTS= BENCH_STATE_WORDS=1000000 npm run bench -- state-scaling  # word count on disk
//
// Defaults: 1K and 100K accounts, 10K and 100K words. A size that fails (e.g.
// a global state whose checkpoint exceeds the log's batch limit) prints the
// error as its row's result.

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, prng, setupDataDir } from '../test/fixtures/crash-harness.ts';
import { transfersLoop, wordCountLoop } from './dataflow.ts';
import { fmtInt, median, printTable, removeDir, settle, tempDir } from './util.ts';

const USAGE_PRELOAD = fileURLToPath(new URL('./apps/child-usage.mjs', import.meta.url));
const BANK_APP = fileURLToPath(new URL('../examples/bank-transfers/app.ts', import.meta.url));
const WORD_APP = fileURLToPath(new URL('./apps/word-count.ts', import.meta.url));
const TRANSFERS = Number(process.env['BENCH_STATE_TRANSFERS'] ?? 200_000);
const LINES = Number(process.env['BENCH_STATE_LINES'] ?? 50_000);
const TIMEOUT_MS = Number(process.env['BENCH_STATE_TIMEOUT_S'] ?? 1800) * 1000;

function sizes(name: string, fallback: number[]): number[] {
  const v = process.env[name] ?? process.env['BENCH_STATE_SIZES'];
  if (v === undefined) return fallback;
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const n = Number(s.replace(/_/g, ''));
      if (!Number.isInteger(n) || n < 1) throw new Error(`${name}/BENCH_STATE_SIZES: ${JSON.stringify(s)} is not a positive integer`);
      return n;
    });
}

/** Funds `accounts` accounts from the sweep account, then random transfers between them. */
function bankInput(accounts: number): string[] {
  const rnd = prng(1978 + accounts);
  const acct = (): string => `acct-${Math.floor(rnd() * accounts)}`;
  const out: string[] = [];
  for (let i = 0; i < accounts; i++) out.push(JSON.stringify({ source: 'sweep', target: `acct-${i}`, amount: 1000 + Math.round(rnd() * 400_000) / 100 }));
  for (let i = 0; i < TRANSFERS; i++) {
    const sweep = rnd() < 0.1;
    const source = sweep ? 'sweep' : acct();
    let target = acct();
    while (target === source && accounts > 1) target = acct();
    out.push(JSON.stringify({ source, target, amount: Math.round(rnd() * (sweep ? 50_000 : 10_000)) / 100 }));
  }
  return out;
}

/** Word i in base 26, least significant letter first: distinct for distinct i, first letters spread evenly. */
export function word(i: number): string {
  let w = '';
  let x = i;
  do {
    w += String.fromCharCode(97 + (x % 26));
    x = Math.floor(x / 26);
  } while (x > 0);
  return w;
}

/** Every one of `distinct` words once (8 per line), then LINES lines of 8 words drawn with a skew. */
function wordInput(distinct: number): { lines: string[]; words: number } {
  const rnd = prng(42 + distinct);
  const lines: string[] = [];
  for (let i = 0; i < distinct; i += 8) {
    const ws: string[] = [];
    for (let j = i; j < Math.min(distinct, i + 8); j++) ws.push(word(j));
    lines.push(ws.join(' '));
  }
  for (let l = 0; l < LINES; l++) {
    const ws: string[] = [];
    for (let j = 0; j < 8; j++) ws.push(word(Math.floor(distinct * rnd() ** 3)));
    lines.push(ws.join(' '));
  }
  return { lines, words: distinct + 8 * LINES };
}

interface ChildRun {
  ok: boolean;
  error: string;
  wallS: number;
  cpuS: number;
  maxRssKiB: number;
  wchar: number;
}

/** Runs `sluice ...args` on dataDir with the usage preload; never throws for the child's failure. */
function runSluice(args: string[], dataDir: string, usageFile: string): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(process.execPath, ['--import', USAGE_PRELOAD, CLI, ...args], {
      env: { ...process.env, SLUICE_DEBUG: '', SLUICE_DATA_DIR: dataDir, SLUICE_BENCH_USAGE: usageFile },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallS = (performance.now() - t) / 1000;
      let u: { usage: NodeJS.ResourceUsage; io: Record<string, number> } | undefined;
      try {
        u = JSON.parse(readFileSync(usageFile, 'utf8')) as typeof u;
        rmSync(usageFile);
      } catch {
        u = undefined;
      }
      const firstError = stderr.split('\n').find((l) => l.startsWith('sluice:')) ?? stderr.trim().split('\n').pop() ?? '';
      resolve({
        ok: code === 0,
        error: code === 0 ? '' : `exited ${code ?? signal}${signal === 'SIGKILL' ? ` (timeout ${TIMEOUT_MS / 1000} s?)` : ''}: ${firstError}`,
        wallS,
        cpuS: u ? (u.usage.userCPUTime + u.usage.systemCPUTime) / 1e6 : NaN,
        maxRssKiB: u ? u.usage.maxRSS : NaN,
        wchar: u?.io['wchar'] ?? NaN,
      });
    });
  });
}

export function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

/** Median CPU µs per event of the hand-written loop over the same strings (3 rounds). */
async function loopCpuUs(events: number, loop: () => number): Promise<number> {
  const us: number[] = [];
  for (let r = 0; r < 3; r++) {
    await settle();
    const c = process.cpuUsage();
    loop();
    const d = process.cpuUsage(c);
    us.push((d.user + d.system) / events);
  }
  return median(us);
}

interface Case {
  size: number;
  events: number;
  app: string;
  job: string;
  inputs: { topic: string; partitions: number; values: string[] }[];
  output: { topic: string; partitions: number };
  loop: () => number;
}

const pct = (r: number): string => (Number.isFinite(r) ? `${(r * 100).toFixed(r < 0.1 ? 1 : 0)}%` : '-');
const mb = (bytes: number): string => (Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(1)} MB` : '-');

async function measure(c: Case): Promise<(string | number)[]> {
  const root = tempDir('state-scaling');
  const data = join(root, 'data');
  const usage = join(root, 'usage.json');
  try {
    await setupDataDir(data, c.inputs, [c.output]);
    const baseUs = await loopCpuUs(c.events, c.loop);
    const beforeBytes = dirBytes(data);
    await settle();
    // BENCH_STATE_BACKEND=disk [BENCH_STATE_CACHE_MB=N]: the word count's state on disk (docs/state-on-disk.md).
    const disk = c.job !== 'bank-transfers' && process.env['BENCH_STATE_BACKEND'] === 'disk' ? ['--state-backend', 'disk', '--state-cache-mb', process.env['BENCH_STATE_CACHE_MB'] ?? '64'] : [];
    const args = ['run', c.app, '--until-end', '-q', ...disk];
    const first = await runSluice(args, data, usage);
    if (!first.ok) return [fmtInt(c.size), c.events, `FAILED after ${first.wallS.toFixed(1)} s: ${first.error}`];
    const changelogDir = join(data, 'topics', `${c.job}-changelog`);
    const changelog = dirBytes(changelogDir);
    const afterBytes = dirBytes(data);
    const restart = await runSluice(args, data, usage);
    const us = (first.cpuS * 1e6) / c.events;
    return [
      fmtInt(c.size),
      c.events,
      us.toFixed(1),
      first.wallS.toFixed(1),
      baseUs.toFixed(2),
      pct(baseUs / us),
      (first.wchar / c.events).toFixed(0),
      fmtInt((afterBytes - beforeBytes) / c.events),
      mb(first.maxRssKiB * 1024),
      changelog,
      restart.ok ? `${restart.wallS.toFixed(2)} s (${restart.cpuS.toFixed(2)} CPU-s)` : `FAILED: ${restart.error}`,
    ];
  } catch (e) {
    return [fmtInt(c.size), c.events, `FAILED: ${(e as Error).message.split('\n')[0]}`];
  } finally {
    removeDir(root);
  }
}

const HEADERS = [
  'size',
  'events',
  'CPU µs/event',
  'wall s',
  'loop CPU µs/event',
  'ratio to loop',
  'bytes written/event',
  'data dir growth B/event',
  'peak RSS',
  'changelog bytes',
  'restart, nothing new',
];

export async function run(): Promise<void> {
  const accounts = sizes('BENCH_STATE_ACCOUNTS', [1000, 100_000]);
  const words = sizes('BENCH_STATE_WORDS', [10_000, 100_000]);
  console.log(
    `state scaling: the CLI (sluice run --until-end, exactly-once, fsync always, checkpoint every 100 ms or 50,000 records) in a child process; ` +
      `CPU = user + system of the child; bytes written = its write(2) bytes (wchar); the restart is a second --until-end with nothing new. ` +
      `ratio to loop = loop CPU / Sluice CPU per event.\n`,
  );
  if (accounts.length > 0) {
    console.log(`bank transfers (examples/bank-transfers/app.ts, one global ledger): N accounts funded by N deposits, then ${fmtInt(TRANSFERS)} transfers\n`);
    const rows: (string | number)[][] = [];
    for (const n of accounts) {
      const values = bankInput(n);
      rows.push(
        await measure({
          size: n,
          events: values.length,
          app: BANK_APP,
          job: 'bank-transfers',
          inputs: [{ topic: 'transfers', partitions: 1, values }],
          output: { topic: 'transfer-outcomes', partitions: 1 },
          loop: () => transfersLoop(values),
        }),
      );
    }
    printTable(HEADERS, rows);
  }
  if (words.length > 0) {
    console.log(`\nkeyed word count (bench/apps/word-count.ts, 27 state partitions, WORD => COUNT per word into a topic): N distinct words once, then ${fmtInt(LINES)} lines of 8 skewed words\n`);
    const rows: (string | number)[][] = [];
    for (const n of words) {
      const { lines, words: events } = wordInput(n);
      rows.push(
        await measure({
          size: n,
          events,
          app: WORD_APP,
          job: 'bench-word-count',
          inputs: [{ topic: 'lines', partitions: 4, values: lines }],
          output: { topic: 'counts', partitions: 4 },
          loop: () => wordCountLoop(lines),
        }),
      );
    }
    printTable(HEADERS, rows);
  }
}
