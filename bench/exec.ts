// The 1978 benchmark (issue 5): the essay's Python bank-transfer program
// (examples/exec/transfers.py, orjson) fed by a plain pipe —
//   cat transfers.jsonl | python3 transfers.py > /dev/null
// — and the same program under `sluice exec` (the built CLI), from an input
// topic to an output topic with exactly-once commits (default 100 ms interval),
// the input produced before the timed run, `--until-end`. Also `--protocol`
// (transfers_protocol.py) and `--stateless` (a stateless jq program vs the same
// jq by pipe). Recovery after a crash is bench/exec-replay.ts.
//
//   npm run bench -- exec      # BENCH_EXEC_TRANSFERS (default 1,000,000)

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, copyDataDir, generateTransfers, setupDataDir } from '../test/fixtures/crash-harness.ts';
import { EXAMPLES, missingTools } from '../test/exec/harness.ts';
import { pipeline, timed, type Timed } from './timed.ts';
import { fmtRatio, printTable, removeDir, tempDir } from './util.ts';

const N = Number(process.env['BENCH_EXEC_TRANSFERS'] ?? 1_000_000);
const IN = 'transfers';
const OUT = 'transfer-outcomes';

async function underExec(base: string, dir: string, flags: string[], cmd: string[]): Promise<Timed> {
  copyDataDir(base, dir);
  const r = await timed([process.execPath, CLI, 'exec', '--input', IN, '--output', OUT, '--job', 'bench', '--until-end', '-q', ...flags, '--', ...cmd], { ...process.env, SLUICE_DATA_DIR: dir });
  removeDir(dir);
  return r;
}

export async function run(): Promise<void> {
  const missing = missingTools();
  if (missing) {
    console.log(`skipped: ${missing}`);
    return;
  }
  const root = tempDir('exec');
  try {
    const transfers = await generateTransfers(N, 1978);
    const file = join(root, 'transfers.jsonl');
    writeFileSync(file, transfers.join('\n') + '\n');
    const base = join(root, 'base');
    await setupDataDir(base, [{ topic: IN, partitions: 1, values: transfers }], [{ topic: OUT, partitions: 1 }]);
    const py = ['python3', EXAMPLES.py];
    const rows: (string | number)[][] = [];
    const row = (name: string, r: Timed, base: Timed) =>
      rows.push([name, Math.round(N / r.wallS), ((r.cpuS * 1e6) / N).toFixed(2), fmtRatio(base.wallS / r.wallS), fmtRatio(base.cpuS / r.cpuS)]);
    const pipePy = await pipeline(file, py);
    row('python, plain pipe', pipePy, pipePy);
    row('python, plain pipe, its outputs read by cat', await pipeline(file, py, true), pipePy);
    row('python, sluice exec (journal + replay)', await underExec(base, join(root, 'r1'), [], py), pipePy);
    row('python, sluice exec --protocol', await underExec(base, join(root, 'r2'), ['--protocol'], ['python3', EXAMPLES.pyProtocol]), pipePy);
    const jq = ['jq', '-c', '. + {seen: true}'];
    const pipeJq = await pipeline(file, jq);
    row("jq '. + {seen: true}', plain pipe", pipeJq, pipeJq);
    row("jq '. + {seen: true}', sluice exec --stateless", await underExec(base, join(root, 'r3'), ['--stateless'], jq), pipeJq);
    console.log(`${N.toLocaleString('en-US')} transfers; "vs pipe" = the plain pipe's wall (CPU) time / this run's; CPU = user + sys of every process\n`);
    printTable(['run', 'transfers/s', 'CPU µs/transfer', 'vs pipe (wall)', 'vs pipe (CPU)'], rows);
  } finally {
    removeDir(root);
  }
}
