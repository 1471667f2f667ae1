// `sluice exec` replay-mode recovery against the plain pipe (issue 15, item 5):
// N transfers are fed to the essay's Python program under `sluice exec` in
// follow mode until the journal holds all N and they are committed; the
// runtime is then SIGKILLed, and the restart (`--until-end`: replay the
// journal, end the program's input, commit, exit) is timed against
// `cat transfers.jsonl | python3 transfers.py > /dev/null` in the same run.
// Wall and CPU (user + sys of the runtime and the program, /usr/bin/time) per
// input, at each size. Then the same with --protocol (transfers_protocol.py):
// the restart restores the snapshot and replays nothing, and the journal,
// trimmed at each snapshot, stays small; its size on disk is printed beside
// the replay-mode journal's.
//
//   npm run bench -- exec-replay     # BENCH_EXEC_REPLAY=100000,1000000,3000000 (the sizes)

import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, copyDataDir, generateTransfers, setupDataDir, spawnSluice } from '../test/fixtures/crash-harness.ts';
import { EXAMPLES, execState, followArgs, IN, missingTools, OUT, waitUntil } from '../test/exec/harness.ts';
import { pipeline, timed } from './timed.ts';
import { fmtRatio, printTable, removeDir, tempDir } from './util.ts';

const SIZES = (process.env['BENCH_EXEC_REPLAY'] ?? '100000,1000000,3000000').split(',').map(Number);

/** Bytes of a topic's files (its segments and indexes). */
function topicBytes(dir: string, topic: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else n += statSync(join(d, e.name)).size;
    }
  };
  walk(join(dir, 'topics', topic));
  return n;
}

/** Feeds every input in follow mode until the journal holds all `n`, then SIGKILLs the runtime: what a crash leaves. */
async function crashAfterAll(dir: string, n: number, program: string[], flags: string[]): Promise<void> {
  const { child, done } = spawnSluice(followArgs('bench', program, ...flags), dir);
  await waitUntil(`${n} inputs committed`, async () => ((await execState(dir, 'bench'))?.journal ?? 0) >= n, 1_800_000);
  child.kill('SIGKILL');
  await done;
}

export async function run(): Promise<void> {
  const missing = missingTools();
  if (missing) {
    console.log(`skipped: ${missing}`);
    return;
  }
  const py = ['python3', EXAMPLES.py];
  const proto = ['python3', EXAMPLES.pyProtocol];
  const protoRows: (string | number)[][] = [];
  const all = await generateTransfers(Math.max(...SIZES), 1978);
  const rows: (string | number)[][] = [];
  for (const n of SIZES) {
    const root = tempDir('exec-replay');
    try {
      const values = all.slice(0, n);
      const file = join(root, 'transfers.jsonl');
      writeFileSync(file, values.join('\n') + '\n');
      const dir = join(root, 'data');
      await setupDataDir(dir, [{ topic: IN, partitions: 1, values }], [{ topic: OUT, partitions: 1 }]);
      const protoDir = join(root, 'protocol');
      copyDataDir(dir, protoDir);
      await crashAfterAll(dir, n, py, []);
      const pipe = await pipeline(file, py);
      // The same, with its outputs read by another process (as exec must read them, to count them).
      const read = await pipeline(file, py, true);
      const restart = await timed([process.execPath, CLI, 'exec', '--input', IN, '--output', OUT, '--job', 'bench', '--until-end', '--', ...py], { ...process.env, SLUICE_DATA_DIR: dir });
      const replayed = /replayed ([\d,]+) inputs in ([\d.]+) s/.exec(restart.stderr);
      if (!replayed || Number(replayed[1]!.replace(/,/g, '')) !== n) throw new Error(`the restart did not replay ${n} inputs: ${restart.stderr}`);
      await crashAfterAll(protoDir, n, proto, ['--protocol']);
      const protoRestart = await timed([process.execPath, CLI, 'exec', '--input', IN, '--output', OUT, '--job', 'bench', '--until-end', '--protocol', '--', ...proto], { ...process.env, SLUICE_DATA_DIR: protoDir });
      protoRows.push([n.toLocaleString('en-US'), (topicBytes(dir, 'bench-journal') / 1e6).toFixed(1), (topicBytes(protoDir, 'bench-journal') / 1e6).toFixed(1), restart.wallS.toFixed(1), protoRestart.wallS.toFixed(1), protoRestart.cpuS.toFixed(1)]);
      const us = (s: number) => ((s * 1e6) / n).toFixed(2);
      rows.push([
        n.toLocaleString('en-US'),
        us(pipe.wallS),
        us(pipe.cpuS),
        us(read.wallS),
        us(read.cpuS),
        us(restart.wallS),
        us(restart.cpuS),
        replayed[2]!,
        fmtRatio(pipe.wallS / restart.wallS),
        fmtRatio(pipe.cpuS / restart.cpuS),
        fmtRatio(read.wallS / restart.wallS),
        fmtRatio(read.cpuS / restart.cpuS),
      ]);
    } finally {
      removeDir(root);
    }
  }
  console.log('restart after SIGKILL with every input committed: replay the journal into a fresh program, end its input, commit, exit');
  console.log('µs per input. pipe: cat transfers.jsonl | python3 transfers.py > /dev/null; read pipe: the same | cat > /dev/null (its outputs read, as exec must);');
  console.log('"vs" = baseline / restart (wall, CPU); CPU = user + sys of every process\n');
  printTable(['inputs', 'pipe wall', 'pipe CPU', 'read pipe wall', 'read pipe CPU', 'restart wall', 'restart CPU', 'replay s', 'vs pipe wall', 'vs pipe CPU', 'vs read pipe wall', 'vs read pipe CPU'], rows);
  console.log('\nthe journal on disk after the crash (MB), and the restart (s): replay mode vs --protocol (trimmed at each snapshot, nothing to replay)\n');
  printTable(['inputs', 'journal MB', 'journal MB --protocol', 'restart wall s', 'restart wall s --protocol', 'restart CPU s --protocol'], protoRows);
}
