// Windowed counts per key (event time), beside a hand-written loop computing
// the same counts on the same events in memory:
//
// * tumbling 1 s count, and hopping 10 s / 1 s count (each event in 10 windows);
// * BENCH_WINDOWS_EVENTS events (default 1,000,000) over 10,000 keys (uniform),
//   event times spread evenly over BENCH_WINDOWS_SPAN_S seconds (default 50),
//   each up to 99 ms earlier than its place in the stream (bounded disorder);
//   the watermark allows 100 ms, so no event is late and every count is exact.
//   Partitions never go idle (idleTimeoutMs Infinity): the input is a backlog
//   with data in every partition to the end, and with the default 5 s a job
//   stalled that long by a loaded machine would let the watermark pass a
//   partition it has not read yet, and drop its events as late (seen here at
//   load average 12; docs/BENCHMARKS.md).
//
// Three variants, alternating within each round, median of BENCH_WINDOWS_ROUNDS
// (default 3); the ratio to the loop is the median of each round's ratio:
//
// 1. the loop: JSON.parse each line, a Map of counts per open window, windows
//    closed as the largest timestamp minus 100 ms passes their end, each final
//    count emitted as the JSON text the job writes ({key,start,end,value,...});
// 2. the engine alone (src/runtime/engine.ts, no I/O): the same lines as
//    UTF-8 source records, in 1000-record batches from 4 origins in the topic
//    source's rotation; outputs encoded by the sink codec and taken;
// 3. the job: the lines in a 4-partition topic of the embedded log (keyed by
//    user), a Job run until the end, results to a topic; exactly-once and
//    at-least-once (fsync always, one thread, a checkpoint every
//    BENCH_WINDOWS_INTERVAL_MS, default 100 as for any job).
//
// Every variant's final counts are checked against the loop's before a figure
// is reported: the same (key, window) pairs with the same counts, each once.

import os from 'node:os';
import { join } from 'node:path';
import { Application, hopping, json, Job, topicSink, topicSource, tumbling, type WindowResult, type WindowSpec } from '../src/index.ts';
import { openFileLog, Producer, type FileLog } from '../src/log/index.ts';
import type { Guarantee, SourceBatch, SourceRecord } from '../src/dataflow/io.ts';
import type { SourceNode } from '../src/dataflow/graph.ts';
import { partitionForKey } from '../src/partitioner.ts';
import { EMPTY_HEADERS } from '../src/record.ts';
import { Engine } from '../src/runtime/engine/engine.ts';
import { fmtInt, fmtRatio, median, now, printTable, removeDir, settle, tempDir } from './util.ts';

const EVENTS = Number(process.env['BENCH_WINDOWS_EVENTS'] ?? 1_000_000);
const SPAN_MS = Number(process.env['BENCH_WINDOWS_SPAN_S'] ?? 50) * 1000;
const ROUNDS = Number(process.env['BENCH_WINDOWS_ROUNDS'] ?? 3);
const INTERVAL_MS = Number(process.env['BENCH_WINDOWS_INTERVAL_MS'] ?? 100);
const KEYS = 10_000;
const DISORDER_MS = 100;
const PARTITIONS = 4;
const BATCH = 1000;
const T0 = Date.UTC(2025, 0, 1);
const IN = 'events';

interface Ev {
  user: string;
  ts: number;
}

interface Workload {
  name: string;
  spec: WindowSpec;
  size: number;
  hop: number;
}

export const WORKLOADS: Workload[] = [
  { name: 'tumbling 1 s', spec: tumbling(1000), size: 1000, hop: 1000 },
  { name: 'hopping 10 s / 1 s', spec: hopping(10_000, 1000), size: 10_000, hop: 1000 },
];

/** The events as JSON lines, deterministic. */
export function makeLines(): string[] {
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const lines: string[] = new Array(EVENTS);
  for (let i = 0; i < EVENTS; i++) {
    const ts = T0 + Math.floor((i * SPAN_MS) / EVENTS) - Math.floor(rnd() * DISORDER_MS);
    const ev: Ev = { user: `u${Math.floor(rnd() * KEYS)}`, ts };
    lines[i] = JSON.stringify(ev);
  }
  return lines;
}

/** What the job writes for a window's final count (the sink's JSON of a WindowResult). */
function finalResult(key: string, start: number, end: number, value: number): string {
  const r: WindowResult<number> = { key, start, end, value, kind: 'final', revision: 1 };
  return JSON.stringify(r);
}

/**
 * The hand-written loop: one Map of counts per open window (by start), a window
 * closed and emitted once the largest timestamp seen minus the allowed disorder
 * passes its end, every open window emitted at the end of the input.
 */
export function windowLoop(lines: string[], size: number, hop: number): string[] {
  const open = new Map<number, Map<string, number>>();
  const out: string[] = [];
  let next = Infinity; // start of the earliest open window
  let maxTs = -Infinity;
  const closeUpTo = (watermark: number) => {
    while (open.size > 0 && next + size <= watermark) {
      const counts = open.get(next);
      if (counts) {
        for (const [key, n] of counts) out.push(finalResult(key, next, next + size, n));
        open.delete(next);
      }
      next += hop;
    }
    if (open.size === 0) next = Infinity;
  };
  for (let i = 0; i < lines.length; i++) {
    const e = JSON.parse(lines[i]!) as Ev;
    const t = e.ts;
    for (let s = Math.floor(t / hop) * hop; s > t - size; s -= hop) {
      let counts = open.get(s);
      if (!counts) {
        open.set(s, (counts = new Map()));
        if (s < next) next = s;
      }
      counts.set(e.user, (counts.get(e.user) ?? 0) + 1);
    }
    if (t > maxTs) {
      maxTs = t;
      closeUpTo(maxTs - DISORDER_MS);
    }
  }
  closeUpTo(Infinity);
  return out;
}

/** Final counts by "key start", from the results' JSON; throws on anything but one final result per window. */
function countsOf(results: Iterable<string>, size: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const text of results) {
    const r = JSON.parse(text) as WindowResult<number>;
    if (r.kind !== 'final' || r.revision !== 1 || r.end - r.start !== size) throw new Error(`unexpected result ${text}`);
    const id = `${r.key} ${r.start}`;
    if (counts.has(id)) throw new Error(`window ${id} emitted twice`);
    counts.set(id, r.value);
  }
  return counts;
}

function verify(what: string, got: Map<string, number>, want: Map<string, number>): void {
  let wrong = 0;
  let example = '';
  for (const [id, n] of want) {
    if (got.get(id) !== n) {
      wrong++;
      example ||= `${id}: ${got.get(id)} instead of ${n}`;
    }
  }
  if (wrong > 0 || got.size !== want.size) {
    throw new Error(`${what}: final counts differ from the loop's (${got.size} windows vs ${want.size}, ${wrong} wrong or missing, e.g. ${example || 'extra windows'})`);
  }
}

export function windowApp(name: string, spec: WindowSpec, output: string): Application {
  const app = new Application(name);
  app
    .pipeline('windows')
    .from(topicSource({ topic: IN }), json<Ev>(), { timestamp: (e) => e.ts, watermark: { maxOutOfOrderMs: DISORDER_MS, idleTimeoutMs: Infinity } })
    .keyBy((e) => e.user)
    .window(spec)
    .count({ name: 'counts' })
    .to(topicSink({ topic: output }), json);
  return app;
}

export const enc = (s: string): Uint8Array => Buffer.from(s, 'utf8');

/** The lines split into the input topic's partitions by key, as the producer does. */
export function byPartition(lines: string[]): { key: Uint8Array; value: Uint8Array }[][] {
  const parts: { key: Uint8Array; value: Uint8Array }[][] = Array.from({ length: PARTITIONS }, () => []);
  for (const line of lines) {
    const key = enc((JSON.parse(line) as Ev).user);
    parts[partitionForKey(key, PARTITIONS)]!.push({ key, value: enc(line) });
  }
  return parts;
}

/** Source batches in the topic source's order: up to BATCH records from each partition in turn. */
export function sourceBatches(parts: { key: Uint8Array; value: Uint8Array }[][]): SourceBatch[] {
  const batches: SourceBatch[] = [];
  const pos = parts.map(() => 0);
  for (let left = true; left; ) {
    left = false;
    for (let p = 0; p < parts.length; p++) {
      const recs = parts[p]!.slice(pos[p], pos[p]! + BATCH);
      if (recs.length === 0) continue;
      left = true;
      const records: SourceRecord[] = recs.map((r) => ({ key: r.key, value: r.value, timestamp: T0, headers: EMPTY_HEADERS }));
      batches.push({ records, origin: `topic:${IN}/${p}`, position: pos[p]! });
      pos[p]! += recs.length;
    }
  }
  return batches;
}

interface Timed {
  secs: number;
  cpuSecs: number;
}

async function timed<T>(fn: () => T | Promise<T>): Promise<Timed & { value: T }> {
  await settle();
  const cpu = process.cpuUsage();
  const t = now();
  const value = await fn();
  const secs = (now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  return { secs, cpuSecs: (used.user + used.system) / 1e6, value };
}

/** The engine alone: every batch pushed through, outputs taken; returns the output values. */
export function engineRun(w: Workload, batches: SourceBatch[]): Uint8Array[] {
  const engine = new Engine(windowApp('bench-windows-engine', w.spec, 'counts'));
  const source = engine.app.nodes().find((n): n is SourceNode => n.kind === 'source')!;
  engine.clock.declareOrigins(source, Array.from({ length: PARTITIONS }, (_, p) => `topic:${IN}/${p}`), Date.now());
  const out: Uint8Array[] = [];
  const take = () => {
    for (const [, recs] of engine.takeOutputs()) for (const r of recs) out.push(r.value!);
  };
  for (const b of batches) {
    engine.pushSource(source, b);
    take();
  }
  engine.endSource(source);
  take();
  if (engine.deadLetters.length > 0) throw new Error(`engine: ${engine.deadLetters.length} dead letters`);
  return out;
}

let jobRuns = 0;

interface Measured extends Timed {
  results: Iterable<string>;
  /** What to say if the results are wrong. */
  note?: string;
}

/** One job run from the input topic to a fresh output topic; returns its results. */
async function jobRun(log: FileLog, w: Workload, guarantee: Guarantee): Promise<Measured> {
  const n = ++jobRuns;
  const output = `counts-${n}`;
  await log.createTopic(output, { partitions: PARTITIONS });
  const app = windowApp(`bench-windows-${n}`, w.spec, output);
  const { value: job, ...time } = await timed(() => new Job(app, { log, untilEnd: true, guarantee, commitIntervalMs: INTERVAL_MS }).run());
  const texts: string[] = [];
  const dec = new TextDecoder();
  for (let p = 0; p < PARTITIONS; p++) {
    for (let offset = 0; ; ) {
      const r = await log.read(output, p, offset, { maxRecords: 10_000, isolation: 'read_committed' });
      for (const rec of r.records) texts.push(dec.decode(rec.value!));
      if (r.nextOffset >= r.highWatermark || r.nextOffset === offset) break;
      offset = r.nextOffset;
    }
  }
  await log.deleteTopic(output);
  return { ...time, results: texts, note: `the job took ${time.secs.toFixed(1)} s; its counters: ${JSON.stringify(job.counters)}` };
}

async function loopRun(lines: string[], w: Workload): Promise<Measured> {
  const { value, ...time } = await timed(() => windowLoop(lines, w.size, w.hop));
  return { ...time, results: value };
}

async function engineAlone(batches: SourceBatch[], w: Workload): Promise<Measured> {
  const { value, ...time } = await timed(() => engineRun(w, batches));
  const dec = new TextDecoder();
  return { ...time, results: value.map((v) => dec.decode(v)) };
}

interface Row {
  variant: string;
  rates: number[];
  cpuRates: number[];
  /** Per round: rate / the loop's rate. */
  ratios: number[];
  cpuRatios: number[];
}

const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' ');

export async function run(): Promise<void> {
  const lines = makeLines();
  const parts = byPartition(lines);
  const batches = sourceBatches(parts);
  console.log(
    `windows: ${fmtInt(EVENTS)} events (JSON), ${fmtInt(KEYS)} keys, event times over ${SPAN_MS / 1000} s with up to ${DISORDER_MS - 1} ms disorder ` +
      `(watermark maxOutOfOrderMs ${DISORDER_MS}), ${PARTITIONS} input partitions, batches of ${BATCH}, jobs checkpoint every ${INTERVAL_MS} ms. Median of ${ROUNDS} rounds; ` +
      `events/CPU-s = events / (user + system CPU time of the process). Load average at start: ${load()}.\n`,
  );
  const rows: (string | number)[][] = [];
  for (const w of WORKLOADS) {
    const want = countsOf(windowLoop(lines, w.size, w.hop), w.size);
    const dir = tempDir('windows');
    try {
      const log = await openFileLog({ dataDir: join(dir, 'log') });
      await log.createTopic(IN, { partitions: PARTITIONS });
      const producer = new Producer(log);
      for (let i = 0; i < lines.length; i += 5000) {
        await producer.send(IN, lines.slice(i, i + 5000).map((l) => ({ key: enc((JSON.parse(l) as Ev).user), value: enc(l), timestamp: T0 })));
      }
      const variants: { name: string; run: () => Promise<Measured> }[] = [
        { name: 'loop', run: () => loopRun(lines, w) },
        { name: 'engine alone', run: () => engineAlone(batches, w) },
        { name: 'job, exactly-once', run: () => jobRun(log, w, 'exactly-once') },
        { name: 'job, at-least-once', run: () => jobRun(log, w, 'at-least-once') },
      ];
      const results: Row[] = variants.map((v) => ({ variant: v.name, rates: [], cpuRates: [], ratios: [], cpuRatios: [] }));
      for (let r = 0; r < ROUNDS; r++) {
        for (let i = 0; i < variants.length; i++) {
          const m = await variants[i]!.run();
          verify(`${w.name}, ${variants[i]!.name}${m.note ? ` (${m.note})` : ''}`, countsOf(m.results, w.size), want);
          const row = results[i]!;
          row.rates.push(EVENTS / m.secs);
          row.cpuRates.push(EVENTS / m.cpuSecs);
          row.ratios.push(row.rates[r]! / results[0]!.rates[r]!);
          row.cpuRatios.push(row.cpuRates[r]! / results[0]!.cpuRates[r]!);
        }
      }
      await log.close();
      for (const r of results) {
        rows.push([w.name, r.variant, Math.round(median(r.rates)), Math.round(median(r.cpuRates)), fmtRatio(median(r.ratios)), fmtRatio(median(r.cpuRatios))]);
      }
      console.log(`${w.name}: ${fmtInt(want.size)} final counts, each variant's equal to the loop's`);
    } finally {
      removeDir(dir);
    }
  }
  console.log('');
  printTable(['windows', 'variant', 'events/s', 'events/CPU-s', 'vs loop', 'vs loop, CPU'], rows);
  console.log(`\nload average at the end: ${load()}`);
  console.log('\ntargets: >= 300,000 events/s per core and >= 40% of the loop (one thread; the machine has 2 cores).');
}
