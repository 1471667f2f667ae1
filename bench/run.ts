// Entry point of `npm run bench`: runs every benchmark, or only those whose
// name contains one of the arguments (`npm run bench -- log`).
// Each benchmark runs its baseline beside it in this same process and prints
// the ratio (see docs/BENCHMARKS.md for why).

import { machineFacts } from './util.ts';

interface Bench {
  name: string;
  description: string;
  load: () => Promise<{ run: () => Promise<void> }>;
}

const BENCHES: Bench[] = [
  { name: 'log', description: 'embedded file log: append and read of 100-byte records vs raw file I/O', load: () => import('./log.ts') },
  { name: 'dataflow', description: 'word count and bank transfers through the runtime, topic to topic, vs a hand-written loop', load: () => import('./dataflow.ts') },
  { name: 'exactly-once', description: 'bank transfers with exactly-once, at-least-once and none: events/s and end-to-end latency', load: () => import('./exactly-once.ts') },
  { name: 'windows', description: 'windowed counts (tumbling 1 s, hopping 10 s / 1 s) over 10,000 keys: the engine alone and a job, vs a hand-written loop', load: () => import('./windows.ts') },
  { name: 'joins', description: 'stream-table enrichment (250,000 requests, 10,000 users) and stream-stream click-through (125,000 + 125,000) left joins (BENCH_JOINS_SCALE=1: 1M and 500,000 + 500,000): the engine alone and a job, vs a hand-written join', load: () => import('./joins.ts') },
  { name: 'state-scaling', description: 'how cost grows with state: bank transfers (1K, 100K accounts) and keyed word count (10K, 100K words) through the CLI: CPU/event vs a loop, bytes written, RSS, changelog, restart (BENCH_STATE_SIZES=...)', load: () => import('./state-scaling.ts') },
  { name: 'state-restore', description: 'restart of a word count with nothing new on a changelog of 10K / 100K / 1M keys written directly (BENCH_RESTORE_SIZES, BENCH_RESTORE_HISTORY, BENCH_RESTORE_BASELINE=other worktree)', load: () => import('./state-restore.ts') },
  { name: 'exec', description: 'the 1978 benchmark: the Python bank-transfer program by plain pipe vs under sluice exec (exactly-once), --protocol, --stateless, recovery', load: () => import('./exec.ts') },
  { name: 'exec-replay', description: 'sluice exec recovery after SIGKILL: replaying the journal of 100K / 1M / 3M inputs into the Python program vs the plain pipe, wall and CPU per input (BENCH_EXEC_REPLAY=...)', load: () => import('./exec-replay.ts') },
  { name: 'broker', description: 'sluice serve in its own process over loopback (RemoteLog) vs the embedded log and NATS JetStream: produce, consume, latency', load: () => import('./broker.ts') },
];

async function main(): Promise<void> {
  const filters = process.argv.slice(2).filter((a) => a !== '--');
  if (filters.includes('--help') || filters.includes('-h')) {
    console.log('usage: npm run bench [-- NAME...]\n');
    for (const b of BENCHES) console.log(`  ${b.name.padEnd(14)} ${b.description}`);
    return;
  }
  const selected = filters.length === 0 ? BENCHES : BENCHES.filter((b) => filters.some((f) => b.name.includes(f)));
  if (selected.length === 0) {
    console.error(`no benchmark matches ${filters.join(' ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
    process.exitCode = 2;
    return;
  }
  for (const line of machineFacts()) console.log(line);
  console.log(`date: ${new Date().toISOString()}`);
  const t0 = performance.now();
  for (const b of selected) {
    console.log(`\n## ${b.name}: ${b.description}\n`);
    const t = performance.now();
    await (await b.load()).run();
    console.log(`\n(${b.name} took ${((performance.now() - t) / 1000).toFixed(1)} s)`);
  }
  if (selected.length > 1) console.log(`\nall benchmarks took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

await main();
