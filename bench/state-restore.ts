// What a restart costs against the size of a job's state (issue 15 item 2):
// the real CLI (`sluice run bench/apps/word-count.ts --until-end`, nothing new
// to read) on a data dir whose changelog holds N word-count keys, written here
// directly in the changelog's format (["key", "counts", partition, word] =>
// {"s":{"count":c}}), so a 4M-key restart does not first need a 4M-word run.
// BENCH_RESTORE_HISTORY=h adds h older records per key before the newest (the
// uncompacted history a restart of a busy job reads), 0 by default.
//
// Per size: wall and CPU seconds of the restart (user + system of the child,
// bench/apps/child-usage.mjs), CPU µs per key, keys per CPU-s, the changelog's
// bytes on disk. BENCH_RESTORE_BASELINE=/path/to/other/worktree runs the same
// restart with that worktree's CLI (e.g. main before a change) on the same data
// dir, in the same run, for a same-run ratio.
//
//   npm run bench -- state-restore
//   BENCH_RESTORE_SIZES=10000,1000000,4000000 BENCH_RESTORE_BASELINE=/work/wt-base npm run bench -- state-restore

import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openFileLog } from '../src/log/file/file-log.ts';
import { ensureChangelog } from '../src/runtime/state-changelog.ts';
import { setupDataDir } from '../test/fixtures/crash-harness.ts';
import { firstLetter } from './apps/word-count.ts';
import { dirBytes, word } from './state-scaling.ts';
import { fmtInt, printTable, removeDir, settle, tempDir } from './util.ts';

const USAGE_PRELOAD = fileURLToPath(new URL('./apps/child-usage.mjs', import.meta.url));
const SIZES = (process.env['BENCH_RESTORE_SIZES'] ?? '10000,100000,1000000').split(',').filter((s) => s.trim() !== '').map((s) => Number(s.replace(/_/g, '')));
const HISTORY = Number(process.env['BENCH_RESTORE_HISTORY'] ?? 0);
const BASELINE = process.env['BENCH_RESTORE_BASELINE'] ?? '';
const JOB = 'bench-word-count';
/** The changelog's segment size in MiB; 0: what a job creates (ensureChangelog). */
const SEGMENT_MB = Number(process.env['BENCH_RESTORE_SEGMENT_MB'] ?? 0);

/** The changelog of a word count that has seen `keys` distinct words, `history` + 1 records per word. */
export async function writeChangelog(dataDir: string, keys: number, history: number): Promise<void> {
  const log = await openFileLog({ dataDir });
  try {
    const topic = `${JOB}-changelog`;
    if (SEGMENT_MB > 0) await log.createTopic(topic, { partitions: 1, compact: true, file: { segmentBytes: SEGMENT_MB * 2 ** 20 } });
    else await ensureChangelog(log, JOB);
    let batch: { key: Buffer; value: Buffer }[] = [];
    for (let round = 0; round <= history; round++) {
      for (let i = 0; i < keys; i++) {
        const w = word(i);
        batch.push({ key: Buffer.from(JSON.stringify(['key', 'counts', firstLetter(w), w])), value: Buffer.from(`{"s":{"count":${round + 1 + (i % 97)}}}`) });
        if (batch.length === 20_000) {
          await log.append(topic, 0, batch);
          batch = [];
        }
      }
    }
    if (batch.length > 0) await log.append(topic, 0, batch);
  } finally {
    await log.close();
  }
}

interface Restart {
  ok: boolean;
  error: string;
  wallS: number;
  cpuS: number;
  maxRssKiB: number;
}

function restart(cli: string, app: string, dataDir: string, usageFile: string): Promise<Restart> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(process.execPath, ['--import', USAGE_PRELOAD, cli, 'run', app, '--until-end', '-q'], {
      env: { ...process.env, SLUICE_DEBUG: '', SLUICE_DATA_DIR: dataDir, SLUICE_BENCH_USAGE: usageFile },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = (performance.now() - t) / 1000;
      let u: { usage: NodeJS.ResourceUsage } | undefined;
      try {
        u = JSON.parse(readFileSync(usageFile, 'utf8')) as typeof u;
        rmSync(usageFile);
      } catch {
        u = undefined;
      }
      resolve({ ok: code === 0, error: stderr.trim().split('\n').pop() ?? '', wallS, cpuS: u ? (u.usage.userCPUTime + u.usage.systemCPUTime) / 1e6 : NaN, maxRssKiB: u ? u.usage.maxRSS : NaN });
    });
  });
}

const cell = (r: Restart, keys: number): string[] =>
  r.ok ? [`${r.wallS.toFixed(2)} s`, r.cpuS.toFixed(2), ((r.cpuS * 1e6) / keys).toFixed(2), fmtInt(keys / r.cpuS), `${(r.maxRssKiB / 1024).toFixed(0)} MB`] : [`FAILED: ${r.error}`, '-', '-', '-', '-'];

export async function run(): Promise<void> {
  const here = fileURLToPath(new URL('..', import.meta.url));
  console.log(`restart of the word count with nothing new (sluice run --until-end, exactly-once) on a changelog of N keys, ${HISTORY} older record(s) per key; CPU = user + system of the child\n`);
  const rows: (string | number)[][] = [];
  for (const keys of SIZES) {
    const root = tempDir('state-restore');
    const data = join(root, 'data');
    try {
      await setupDataDir(data, [{ topic: 'lines', partitions: 4, values: [] }], [{ topic: 'counts', partitions: 4 }]);
      await writeChangelog(data, keys, HISTORY);
      const bytes = dirBytes(join(data, 'topics', `${JOB}-changelog`));
      const runs: [string, string][] = [['this', here]];
      if (BASELINE !== '') runs.push(['baseline', BASELINE]);
      for (const [name, tree] of runs) {
        await settle();
        const r = await restart(join(tree, 'dist', 'cli', 'main.js'), join(tree, 'bench', 'apps', 'word-count.ts'), data, join(root, 'usage.json'));
        rows.push([fmtInt(keys), name, `${(bytes / 2 ** 20).toFixed(1)} MB`, ...cell(r, keys)]);
      }
    } finally {
      removeDir(root);
    }
  }
  printTable(['keys', 'CLI', 'changelog', 'restart wall', 'CPU s', 'CPU µs/key', 'keys/CPU-s', 'peak RSS'], rows);
}
