// Preloaded into every test file's process by scripts/run-tests.mjs: at exit,
// records the CPU seconds the file cost — its own and those of the processes
// it spawned and waited for (the CLI runs the e2e tests start), which only
// the kernel's cutime/cstime count — so the slowest-files table can tell a
// file that computes from one that waits. Linux only; elsewhere it records nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.SLUICE_TEST_CPU_DIR;
if (dir) {
  process.on('exit', () => {
    try {
      // Fields after "pid (comm) ": utime, stime, cutime, cstime are fields 14-17, in clock ticks (100 a second on Linux).
      const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
      const ticks = [11, 12, 13, 14].reduce((s, i) => s + Number(fields[i]), 0);
      writeFileSync(join(dir, String(process.pid)), JSON.stringify({ file: process.argv[1], cpuS: ticks / 100 }));
    } catch {
      // Not Linux, or the dir is gone: the table shows no CPU figure for this file.
    }
  });
}
