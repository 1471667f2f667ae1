// The dataflow runtime end to end, topic to topic, beside a hand-written loop
// doing the same computation on the same data in memory (issue 3):
//
// * word count: lines of 8 words -> split -> keyBy word (27 partitions by first
//   letter) -> running count -> "WORD => COUNT" per word into a topic.
// * bank transfers: JSON transfers -> one global state (balances) -> the
//   transfer plus its outcome, as JSON, into a topic.
//
// The loop gets the lines as strings and produces the same output strings (it
// parses and stringifies JSON too, for transfers): it is what a user would write
// without Sluice and without durability. Sluice reads from and appends to the
// embedded log with fsync always, and checkpoints every 100 ms.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Application, json, Job, topicSink, topicSource } from '../src/index.ts';
import { openFileLog, Producer } from '../src/log/index.ts';
import { SPLIT, wordCountApp } from './apps/word-count.ts';
import { fmtInt, fmtRatio, median, now, printTable, removeDir, settle, tempDir } from './util.ts';

const ROUNDS = Number(process.env['BENCH_DATAFLOW_ROUNDS'] ?? 3);
const LINES = Number(process.env['BENCH_WORDCOUNT_LINES'] ?? 150_000);
const TRANSFERS = Number(process.env['BENCH_TRANSFERS'] ?? 300_000);
const WORDS_PER_LINE = 8;
const enc = new TextEncoder();

function makeLines(n: number): string[] {
  // 10,000 distinct words with a skewed (Zipf-like) frequency, deterministic.
  let seed = 42;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const vocab = Array.from({ length: 10_000 }, (_, i) => {
    let w = '';
    for (let x = i + 1; x > 0; x = Math.floor(x / 26)) w += String.fromCharCode(97 + (x % 26));
    return w + (i % 3 === 0 ? "'s" : '');
  });
  return Array.from({ length: n }, () => Array.from({ length: WORDS_PER_LINE }, () => vocab[Math.floor(vocab.length * rnd() ** 3)]).join(' '));
}

export function wordCountLoop(lines: string[]): number {
  const counts = new Map<string, number>();
  const out: string[] = [];
  for (const line of lines) {
    for (const w of line.toLowerCase().split(SPLIT)) {
      if (w === '') continue;
      const c = (counts.get(w) ?? 0) + 1;
      counts.set(w, c);
      out.push(`${w} => ${c}\n`);
    }
  }
  return out.length;
}

interface Transfer {
  source: string;
  target: string;
  amount: number;
  outcome?: 'approve' | 'deny';
}

function decide(t: Transfer, balances: Record<string, number>): Transfer {
  if (t.source === 'sweep' || (balances[t.source] ?? 0) >= t.amount) {
    balances[t.source] = (balances[t.source] ?? 0) - t.amount;
    balances[t.target] = (balances[t.target] ?? 0) + t.amount;
    t.outcome = 'approve';
  } else t.outcome = 'deny';
  return t;
}

export function transfersLoop(lines: string[]): number {
  const balances: Record<string, number> = {};
  const out: string[] = [];
  for (const line of lines) out.push(JSON.stringify(decide(JSON.parse(line) as Transfer, balances)));
  return out.length;
}

function transfersApp(): Application {
  const app = new Application('bench-transfers');
  app
    .pipeline('transfers')
    .from(topicSource({ topic: 'transfers' }), json<Transfer>())
    .global(
      () => ({ balances: {} as Record<string, number> }),
      (t, s, ctx) => ctx.emit(decide(t, s.balances)),
      { name: 'balances' },
    )
    .to(topicSink({ topic: 'outcomes' }), json);
  return app;
}

/** Produces `lines` into `topic`, runs the app until it has drained them; returns seconds spent in the job. */
async function timeJob(app: Application, topic: string, partitions: number, output: string, lines: string[], workers = 1, appFile?: string): Promise<number> {
  const dir = tempDir('dataflow');
  try {
    const log = await openFileLog({ dataDir: join(dir, 'log') });
    await log.createTopic(topic, { partitions });
    await log.createTopic(output, { partitions: partitions === 1 ? 1 : 4 });
    const producer = new Producer(log);
    for (let i = 0; i < lines.length; i += 5000) {
      await producer.send(topic, lines.slice(i, i + 5000).map((l, j) => ({ key: partitions === 1 ? null : enc.encode(String(i + j)), value: enc.encode(l) })));
    }
    const t = now();
    await new Job(app, { log, untilEnd: true, workers, appFile }).run();
    const secs = (now() - t) / 1000;
    await log.close();
    return secs;
  } finally {
    removeDir(dir);
  }
}

async function measure(name: string, unit: string, events: number, loop: () => number, job: () => Promise<number>): Promise<(string | number)[]> {
  const sluice: number[] = [];
  const base: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await settle();
    const t = now();
    loop();
    base.push(events / ((now() - t) / 1000));
    await settle();
    sluice.push(events / (await job()));
  }
  const s = median(sluice);
  const b = median(base);
  return [name, unit, Math.round(s), Math.round(b), fmtRatio(s / b)];
}

export async function run(): Promise<void> {
  const lines = makeLines(LINES);
  const words = wordCountLoop(lines);
  const transfers = execFileSync(process.execPath, ['--import', 'tsx', 'examples/bank-transfers/generate.ts', String(TRANSFERS)], { maxBuffer: 1 << 30 })
    .toString()
    .trim()
    .split('\n');
  console.log(
    `dataflow: word count over ${fmtInt(LINES)} lines (${fmtInt(words)} words), bank transfers x ${fmtInt(TRANSFERS)}; ` +
      `Sluice reads a topic and appends to a topic (fsync always, checkpoint every 100 ms); the loop works on in-memory strings. Median of ${ROUNDS} rounds.\n`,
  );
  const rows = [
    await measure('word count', 'words/s', words, () => wordCountLoop(lines), () => timeJob(wordCountApp(), 'lines', 4, 'counts', lines)),
    await measure('word count, --workers 2', 'words/s', words, () => wordCountLoop(lines), () =>
      timeJob(wordCountApp(), 'lines', 4, 'counts', lines, 2, 'bench/apps/word-count.ts'),
    ),
    await measure('bank transfers', 'transfers/s', transfers.length, () => transfersLoop(transfers), () => timeJob(transfersApp(), 'transfers', 1, 'outcomes', transfers)),
  ];
  printTable(['job', 'unit', 'Sluice', 'hand-written loop', 'Sluice/loop'], rows);
  console.log('\ntargets (issue 3): word count >= 500,000 events/s per core and >= 50% of the loop; --workers 2 shows the scaling on 2 cores.');
}
