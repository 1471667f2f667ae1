// What exactly-once costs (issue 4): the bank-transfer job (examples/bank-transfers)
// topic to topic on the embedded log, with --guarantee exactly-once,
// at-least-once and none, in one run:
//
// * throughput: the input (BENCH_EO_TRANSFERS, default 200,000) is in the topic
//   before the job starts; the job runs --until-end; events/s. Median of
//   BENCH_EO_ROUNDS rounds (default 3), the guarantees interleaved per round.
// * end-to-end latency: a producer appends transfers at a steady rate
//   (BENCH_EO_RATE/s, default 20,000, in 5 ms ticks, each record stamped with
//   the time it is appended), the job runs (not --until-end) with the default
//   100 ms checkpoint interval, and a read_committed reader tails the output
//   (log.waitFor + log.read) recording now - timestamp for every outcome (the
//   job carries the input's timestamp to its output). First second dropped as
//   warm-up; BENCH_EO_SECONDS (default 5) measured.
//
// Everything runs in this one process: producer, job and reader share the event loop.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Job, topicSink, topicSource } from '../src/index.ts';
import { openFileLog, type FileLog } from '../src/log/index.ts';
import type { Guarantee } from '../src/dataflow/io.ts';
import { build } from '../examples/bank-transfers/app.ts';
import { fmtMs, fmtRatio, median, now, percentile, printTable, removeDir, settle, tempDir } from './util.ts';

const TRANSFERS = Number(process.env['BENCH_EO_TRANSFERS'] ?? 200_000);
const ROUNDS = Number(process.env['BENCH_EO_ROUNDS'] ?? 3);
const RATE = Number(process.env['BENCH_EO_RATE'] ?? 20_000);
const SECONDS = Number(process.env['BENCH_EO_SECONDS'] ?? 5);
const INTERVAL = Number(process.env['BENCH_EO_INTERVAL_MS'] ?? 100);
const GUARANTEES: Guarantee[] = ['none', 'at-least-once', 'exactly-once'];
const IN = 'transfers';
const OUT = 'transfer-outcomes';

function app() {
  return build({ transfers: topicSource({ topic: IN }), outcomes: topicSink({ topic: OUT }) });
}

async function fresh(): Promise<{ dir: string; log: FileLog }> {
  const dir = tempDir('exactly-once');
  const log = await openFileLog({ dataDir: join(dir, 'log') });
  await log.createTopic(IN, { partitions: 1 });
  await log.createTopic(OUT, { partitions: 1 });
  return { dir, log };
}

async function throughput(g: Guarantee, values: Buffer[]): Promise<number> {
  const { dir, log } = await fresh();
  try {
    for (let i = 0; i < values.length; i += 5000) await log.append(IN, 0, values.slice(i, i + 5000).map((value) => ({ key: null, value, timestamp: 0 })));
    await settle();
    const t = now();
    await new Job(app(), { log, untilEnd: true, guarantee: g, commitIntervalMs: INTERVAL }).run();
    return values.length / ((now() - t) / 1000);
  } finally {
    await log.close();
    removeDir(dir);
  }
}

interface Latency {
  p50: number;
  p99: number;
  max: number;
  outputs: number;
  produced: number;
}

async function latency(g: Guarantee, values: Buffer[]): Promise<Latency> {
  const { dir, log } = await fresh();
  const stop = new AbortController();
  const readerStop = new AbortController();
  try {
    const job = new Job(app(), { log, signal: stop.signal, guarantee: g, commitIntervalMs: INTERVAL }).run();
    const start = Date.now();
    const warmUntil = start + 1000;
    const end = warmUntil + SECONDS * 1000;
    const lat: number[] = [];
    let outputs = 0;
    const reader = (async () => {
      let offset = 0;
      while (!readerStop.signal.aborted) {
        try {
          await log.waitFor(OUT, 0, offset, readerStop.signal, 'read_committed');
        } catch {
          break;
        }
        const r = await log.read(OUT, 0, offset, { isolation: 'read_committed', maxRecords: 5000 });
        const t = Date.now();
        for (const rec of r.records) {
          outputs++;
          if (rec.timestamp >= warmUntil && rec.timestamp < end) lat.push(t - rec.timestamp);
        }
        offset = r.nextOffset;
      }
    })();
    let sent = 0;
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - start) / 1000) * RATE);
      if (due > sent) {
        const ts = Date.now();
        const batch = [];
        for (; sent < due; sent++) batch.push({ key: null, value: values[sent % values.length]!, timestamp: ts });
        await log.append(IN, 0, batch);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    // Let the last inputs through, stop the job (its final checkpoint, and closing its
    // sinks, write what is left), and read until every transfer's outcome was seen.
    await new Promise((r) => setTimeout(r, 3 * INTERVAL + 200));
    stop.abort();
    await job;
    const deadline = Date.now() + 10_000;
    while (outputs < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    readerStop.abort();
    await reader;
    const sorted = Float64Array.from(lat).sort();
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, outputs, produced: sent };
  } finally {
    stop.abort();
    readerStop.abort();
    await log.close();
    removeDir(dir);
  }
}

export async function run(): Promise<void> {
  const values = execFileSync(process.execPath, ['--import', 'tsx', 'examples/bank-transfers/generate.ts', String(TRANSFERS)], { maxBuffer: 1 << 30 })
    .toString()
    .trim()
    .split('\n')
    .map((l) => Buffer.from(l));
  console.log(
    `exactly-once: bank transfers topic to topic (fsync always), checkpoint interval ${INTERVAL} ms.\n` +
      `throughput: ${TRANSFERS.toLocaleString('en-US')} transfers already in the topic, --until-end, median of ${ROUNDS} rounds.\n` +
      `latency: ${RATE.toLocaleString('en-US')} transfers/s appended at a steady rate for ${SECONDS} s after 1 s of warm-up; ` +
      `appended -> visible to a read_committed reader.\n`,
  );
  const tput = new Map<Guarantee, number[]>(GUARANTEES.map((g) => [g, []]));
  for (let r = 0; r < ROUNDS; r++) for (const g of GUARANTEES) tput.get(g)!.push(await throughput(g, values));
  const lats = new Map<Guarantee, Latency>();
  for (const g of GUARANTEES) {
    await settle();
    lats.set(g, await latency(g, values));
  }
  const base = median(tput.get('none')!);
  printTable(
    ['guarantee', 'events/s', 'vs none', 'p50 latency', 'p99 latency', 'max', 'p99 / interval', 'outputs seen / produced'],
    GUARANTEES.map((g) => {
      const t = median(tput.get(g)!);
      const l = lats.get(g)!;
      return [g, Math.round(t), fmtRatio(t / base), `${fmtMs(l.p50)} ms`, `${fmtMs(l.p99)} ms`, `${fmtMs(l.max)} ms`, `${(l.p99 / INTERVAL).toFixed(2)}x`, `${l.outputs} / ${l.produced}`];
    }),
  );
  const eo = median(tput.get('exactly-once')!);
  const l = lats.get('exactly-once')!;
  console.log(
    `\ntargets: exactly-once throughput >= 85% of none: ${fmtRatio(eo / base)} ${eo / base >= 0.85 ? 'MET' : 'MISSED'}; ` +
      `p99 <= 3x interval (${3 * INTERVAL} ms): ${fmtMs(l.p99)} ms ${l.p99 <= 3 * INTERVAL ? 'MET' : 'MISSED'}`,
  );
}
