// `sluice exec` replay-mode recovery against the plain pipe (issue 15, item 5):
// N transfers are fed to the essay's Python program under `sluice exec` in
// follow mode until the journal holds all N and they are committed; the
// runtime is then SIGKILLed, and the restart (`--until-end`: replay the
// journal, end the program's input, commit, exit) is timed against
// `cat transfers.jsonl | python3 transfers.py > /dev/null` in the same run.
// Wall and CPU (user + sys of the runtime and the program, /usr/bin/time) per
// input, at each size.
//
//   npm run bench -- exec-replay     # BENCH_EXEC_REPLAY=100000,1000000,3000000 (the sizes)

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, generateTransfers, setupDataDir, spawnSluice } from '../test/fixtures/crash-harness.ts';
import { EXAMPLES, execState, followArgs, IN, missingTools, OUT, waitUntil } from '../test/exec/harness.ts';
import { fmtRatio, printTable, removeDir, tempDir } from './util.ts';

const SIZES = (process.env['BENCH_EXEC_REPLAY'] ?? '100000,1000000,3000000').split(',').map(Number);

interface Timed {
  wallS: number;
  cpuS: number;
  stderr: string;
}

/** Runs a command under /usr/bin/time: wall and CPU of it and every child it waited for. */
function timed(cmd: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'TIMED %e %U %S', ...cmd], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /TIMED ([\d.]+) ([\d.]+) ([\d.]+)/.exec(stderr);
      if (code !== 0 || !m) return reject(new Error(`${cmd.join(' ')} exited ${code}: ${stderr}`));
      resolve({ wallS: Number(m[1]), cpuS: Number(m[2]) + Number(m[3]), stderr });
    });
  });
}

export async function run(): Promise<void> {
  const missing = missingTools();
  if (missing) {
    console.log(`skipped: ${missing}`);
    return;
  }
  const py = ['python3', EXAMPLES.py];
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
      // Everything fed and committed, then SIGKILL: the journal and counts a crash leaves.
      const { child, done } = spawnSluice(followArgs('bench', py), dir);
      await waitUntil(`${n} inputs committed`, async () => ((await execState(dir, 'bench'))?.journal ?? 0) >= n, 1_800_000);
      child.kill('SIGKILL');
      await done;
      const pipe = await timed(['sh', '-c', `cat '${file}' | python3 '${EXAMPLES.py}' > /dev/null`]);
      // The same, with its outputs read by another process (as exec must read them, to count them).
      const read = await timed(['sh', '-c', `cat '${file}' | python3 '${EXAMPLES.py}' | cat > /dev/null`]);
      const restart = await timed([process.execPath, CLI, 'exec', '--input', IN, '--output', OUT, '--job', 'bench', '--until-end', '--', ...py], { ...process.env, SLUICE_DATA_DIR: dir });
      const replayed = /replayed ([\d,]+) inputs in ([\d.]+) s/.exec(restart.stderr);
      if (!replayed || Number(replayed[1]!.replace(/,/g, '')) !== n) throw new Error(`the restart did not replay ${n} inputs: ${restart.stderr}`);
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
}
