// Preloaded into a `sluice` child by bench/state-scaling.ts (node --import):
// when the child exits, writes its own CPU time, peak RSS and I/O counters to
// the file named by $SLUICE_BENCH_USAGE. Node gives a parent no rusage of its
// child, and /proc/<pid>/io is gone once the child has exited, so the child
// reports them itself, at the last moment.
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.env.SLUICE_BENCH_USAGE;
if (file) {
  process.on('exit', () => {
    const io = {};
    try {
      for (const line of readFileSync('/proc/self/io', 'utf8').split('\n')) {
        const [k, v] = line.split(':');
        if (k && v) io[k.trim()] = Number(v);
      }
    } catch {
      // not Linux: the I/O columns stay empty
    }
    writeFileSync(file, JSON.stringify({ usage: process.resourceUsage(), io }));
  });
}
