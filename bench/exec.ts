// The 1978 benchmark (issue 5): the essay's Python bank-transfer program
// (examples/exec/transfers.py, orjson) fed by a plain pipe —
//   cat transfers.jsonl | python3 transfers.py > /dev/null
// — and the same program under `sluice exec` (the built CLI), from an input
// topic to an output topic with exactly-once commits (default 100 ms interval),
// the input produced before the timed run, `--until-end`. Also `--protocol`
// (transfers_protocol.py) and `--stateless` (a stateless jq program vs the same
// jq by pipe), and the recovery time after a crash at BENCH_EXEC_RECOVER inputs:
// the job commits all its input (a crash after that commit leaves exactly that
// on disk), and the restart — which replays the journal and exits, --until-end —
// is timed; with --protocol the restart restores the state and replays nothing.
//
//   npm run bench -- exec      # BENCH_EXEC_TRANSFERS (default 1,000,000), BENCH_EXEC_RECOVER (default 1,000,000)

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTransfers, setupDataDir, sluice, copyDataDir } from '../test/fixtures/crash-harness.ts';
import { EXAMPLES, missingTools } from '../test/exec/harness.ts';
import { fmtRatio, now, printTable, removeDir, tempDir } from './util.ts';

const N = Number(process.env['BENCH_EXEC_TRANSFERS'] ?? 1_000_000);
const RECOVER = Number(process.env['BENCH_EXEC_RECOVER'] ?? 1_000_000);
const IN = 'transfers';
const OUT = 'transfer-outcomes';

function pipe(file: string, cmd: string[]): number {
  const t = now();
  execFileSync('sh', ['-c', `cat '${file}' | ${cmd.map((c) => `'${c}'`).join(' ')} > /dev/null`], { stdio: 'inherit' });
  return now() - t;
}

async function underExec(base: string, dir: string, flags: string[], cmd: string[]): Promise<number> {
  copyDataDir(base, dir);
  const t = now();
  await sluice(['exec', '--input', IN, '--output', OUT, '--job', 'bench', '--until-end', '-q', ...flags, '--', ...cmd], dir, 1_800_000);
  const ms = now() - t;
  removeDir(dir);
  return ms;
}

export async function run(): Promise<void> {
  const missing = missingTools();
  if (missing) {
    console.log(`skipped: ${missing}`);
    return;
  }
  const root = tempDir('exec');
  try {
    const transfers = await generateTransfers(Math.max(N, RECOVER), 1978);
    const file = join(root, 'transfers.jsonl');
    writeFileSync(file, transfers.slice(0, N).join('\n') + '\n');
    const base = join(root, 'base');
    await setupDataDir(base, [{ topic: IN, partitions: 1, values: transfers.slice(0, N) }], [{ topic: OUT, partitions: 1 }]);
    const py = ['python3', EXAMPLES.py];
    const rate = (ms: number) => N / (ms / 1000);
    const rows: (string | number)[][] = [];
    const pipePy = pipe(file, py);
    const execPy = await underExec(base, join(root, 'r1'), [], py);
    rows.push(['python, plain pipe', Math.round(rate(pipePy)), '100%']);
    rows.push(['python, sluice exec (journal + replay)', Math.round(rate(execPy)), fmtRatio(pipePy / execPy)]);
    const execProto = await underExec(base, join(root, 'r2'), ['--protocol'], ['python3', EXAMPLES.pyProtocol]);
    rows.push(['python, sluice exec --protocol', Math.round(rate(execProto)), fmtRatio(pipePy / execProto)]);
    const jq = ['jq', '-c', '. + {seen: true}'];
    const pipeJq = pipe(file, jq);
    const execStateless = await underExec(base, join(root, 'r3'), ['--stateless'], jq);
    rows.push(["jq '. + {seen: true}', plain pipe", Math.round(rate(pipeJq)), '100%']);
    rows.push(["jq '. + {seen: true}', sluice exec --stateless", Math.round(rate(execStateless)), fmtRatio(pipeJq / execStateless)]);
    console.log(`${N.toLocaleString('en-US')} transfers; ratio = plain pipe time / exec time\n`);
    printTable(['run', 'transfers/s', 'vs pipe'], rows);

    // Recovery: all RECOVER inputs committed, then SIGKILL, then time the restart.
    const rec = join(root, 'recover');
    await setupDataDir(rec, [{ topic: IN, partitions: 1, values: transfers.slice(0, RECOVER) }], [{ topic: OUT, partitions: 1 }]);
    const args = ['exec', '--input', IN, '--output', OUT, '--job', 'bench', '--until-end', '--', ...py];
    // Commits everything. A crash after that commit leaves exactly this on disk (the
    // journal, the counts): the next start, timed here, is the recovery.
    await sluice(args, rec, 1_800_000);
    const t = now();
    const r = await sluice(args, rec, 1_800_000);
    const recoverMs = now() - t;
    console.log(`\nrecovery after a crash at ${RECOVER.toLocaleString('en-US')} committed inputs (replay mode): restart to exit ${(recoverMs / 1000).toFixed(1)} s`);
    console.log(r.stderr.split(/[\r\n]/).filter((l) => /replayed|committed/.test(l)).map((l) => `  ${l.replace(/^.*inputs(?=bench)/, '')}`).join('\n'));
    const pr = join(root, 'recover-protocol');
    await setupDataDir(pr, [{ topic: IN, partitions: 1, values: transfers.slice(0, RECOVER) }], [{ topic: OUT, partitions: 1 }]);
    const pargs = ['exec', '--input', IN, '--output', OUT, '--job', 'bench', '--until-end', '--protocol', '--', 'python3', EXAMPLES.pyProtocol];
    await sluice(pargs, pr, 1_800_000);
    const t2 = now();
    await sluice(pargs, pr, 1_800_000);
    console.log(`recovery after a crash at ${RECOVER.toLocaleString('en-US')} committed inputs (--protocol): restart to exit ${((now() - t2) / 1000).toFixed(1)} s`);
  } finally {
    removeDir(root);
  }
}
