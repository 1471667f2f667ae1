// The log benchmark (issue 2): append and read throughput of the embedded file
// log for 100-byte records, single partition and 8 partitions, fsync `always`
// (group commit) and `never`, each measured right beside its raw limit in the
// same process run:
//
//   append, fsync always: sequential write + fdatasync per batch of the same bytes
//   append, fsync never:  the same writes without fdatasync
//   read:                 sequential reads of the very segment files Sluice reads
//
// With 8 partitions the raw limit writes (reads) 8 files concurrently, one
// sequential loop per file, as Sluice does one group-commit loop per partition.
// Raw and Sluice runs alternate (raw, sluice, raw, sluice, ...) and the median
// of the rounds is reported, so drift on a noisy machine hits both alike.
//
// Knobs (environment): BENCH_LOG_RECORDS (records per case, default 2,000,000),
// BENCH_LOG_ROUNDS (default 5), BENCH_LOG_BATCH (records per append, 1000),
// BENCH_LOG_INFLIGHT (appends in flight per partition, 4).

import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openFileLog } from '../src/log/file/file-log.ts';
import { encodeBatch } from '../src/log/batch.ts';
import type { FsyncPolicy } from '../src/log/log.ts';
import type { ProducerRecord } from '../src/record.ts';
import { fmtInt, fmtMs, fmtRatio, median, now, percentile, printTable, removeDir, settle, tempDir } from './util.ts';

const RECORD_BYTES = 100;
const TOTAL_RECORDS = envInt('BENCH_LOG_RECORDS', 2_000_000);
const ROUNDS = envInt('BENCH_LOG_ROUNDS', 5);
const BATCH = envInt('BENCH_LOG_BATCH', 1000);
const INFLIGHT = envInt('BENCH_LOG_INFLIGHT', 4);
// The log's default read size: what a consumer that does not tune maxBytes gets.
const READ_MAX_BYTES = 256 * 1024;
const READ_MAX_RECORDS = 100_000;
const CONSUMER_MAX_RECORDS = 500;
const TOPIC = 'bench';

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : Number.parseInt(v, 10);
}

// ---- promisified callback fs, the cheapest async file API (the log uses the same) ----

function write(fd: number, buf: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, 0, buf.length, position, (e, n) => (e ? reject(e) : resolve(n))));
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
}

function read(fd: number, buf: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, buf.length, position, (e, n) => (e ? reject(e) : resolve(n))));
}

// ---- results -----------------------------------------------------------------

interface Run {
  records: number;
  bytes: number;
  secs: number;
  /** Per call (append) or per batch (raw) latencies in ms; empty for reads. */
  latencies: number[];
}

const rate = (r: Run): number => r.records / r.secs;

/** The median round by throughput (its latencies go with it), plus pooled latency percentiles. */
function summarize(runs: Run[]): { rps: number; mbps: number; p50: number; p99: number } {
  const rps = median(runs.map(rate));
  const mbps = median(runs.map((r) => r.bytes / r.secs / 1e6));
  const lat = Float64Array.from(runs.flatMap((r) => r.latencies)).sort();
  return { rps, mbps, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

// ---- the workload ------------------------------------------------------------

/** One batch of BATCH records with 100-byte random values and null keys, reused for every append. */
function makeBatch(): ProducerRecord[] {
  const out: ProducerRecord[] = [];
  for (let i = 0; i < BATCH; i++) out.push({ key: null, value: randomBytes(RECORD_BYTES) });
  return out;
}

async function sluiceAppend(dir: string, partitions: number, fsync: FsyncPolicy, batch: ProducerRecord[], batchesPerPartition: number): Promise<Run> {
  const log = await openFileLog({ dataDir: dir });
  try {
    await log.createTopic(TOPIC, { partitions, file: { fsync } });
    const latencies: number[] = [];
    const sent = new Array<number>(partitions).fill(0);
    const worker = async (p: number): Promise<void> => {
      while (sent[p]! < batchesPerPartition) {
        sent[p]!++;
        const t0 = now();
        await log.append(TOPIC, p, batch);
        latencies.push(now() - t0);
      }
    };
    const workers: Promise<void>[] = [];
    const t0 = now();
    for (let p = 0; p < partitions; p++) for (let w = 0; w < INFLIGHT; w++) workers.push(worker(p));
    await Promise.all(workers);
    const secs = (now() - t0) / 1000;
    let bytes = 0;
    for (const p of (await log.describeTopic(TOPIC)).partitions) bytes += p.sizeBytes;
    return { records: partitions * batchesPerPartition * BATCH, bytes, secs, latencies };
  } finally {
    await log.close();
  }
}

/** Raw limit: per file, sequential write (+ fdatasync) of an encoded batch of the same size; files in parallel. */
async function rawAppend(dir: string, files: number, sync: boolean, encoded: Buffer, batchesPerFile: number): Promise<Run> {
  const fds: number[] = [];
  for (let f = 0; f < files; f++) fds.push(fs.openSync(join(dir, `raw-${f}.log`), 'w'));
  try {
    const latencies: number[] = [];
    const loop = async (fd: number): Promise<void> => {
      let pos = 0;
      for (let i = 0; i < batchesPerFile; i++) {
        const t0 = now();
        let n = 0;
        while (n < encoded.length) n += await write(fd, n === 0 ? encoded : encoded.subarray(n), pos + n);
        if (sync) await fdatasync(fd);
        pos += encoded.length;
        latencies.push(now() - t0);
      }
    };
    const t0 = now();
    await Promise.all(fds.map(loop));
    const secs = (now() - t0) / 1000;
    return { records: files * batchesPerFile * BATCH, bytes: files * batchesPerFile * encoded.length, secs, latencies };
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

/** Reads every partition from offset 0 to its end, partitions concurrently, touching every record. */
async function sluiceRead(dir: string, maxRecords: number): Promise<Run> {
  const log = await openFileLog({ dataDir: dir });
  try {
    const ends = (await log.describeTopic(TOPIC)).partitions.map((p) => p.endOffset);
    let records = 0;
    let bytes = 0;
    const loop = async (p: number): Promise<void> => {
      let offset = 0;
      const end = ends[p]!;
      while (offset < end) {
        const r = await log.read(TOPIC, p, offset, { maxBytes: READ_MAX_BYTES, maxRecords });
        const recs = r.records;
        for (let i = 0; i < recs.length; i++) bytes += recs[i]!.value!.length;
        records += recs.length;
        offset = r.nextOffset;
      }
    };
    const t0 = now();
    await Promise.all(ends.map((_, p) => loop(p)));
    const secs = (now() - t0) / 1000;
    return { records, bytes, secs, latencies: [] };
  } finally {
    await log.close();
  }
}

/** Raw limit for reads: the same segment files read sequentially in chunks of READ_MAX_BYTES, partitions concurrently. */
async function rawRead(dir: string, partitions: number, recordsPerPartition: number): Promise<Run> {
  let bytes = 0;
  const loop = async (p: number): Promise<void> => {
    const pdir = join(dir, 'topics', TOPIC, String(p));
    const buf = Buffer.allocUnsafe(READ_MAX_BYTES);
    for (const name of fs.readdirSync(pdir).filter((n) => n.endsWith('.log')).sort()) {
      const fd = fs.openSync(join(pdir, name), 'r');
      try {
        let pos = 0;
        for (;;) {
          const n = await read(fd, buf, pos);
          if (n === 0) break;
          pos += n;
        }
        bytes += pos;
      } finally {
        fs.closeSync(fd);
      }
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: partitions }, (_, p) => loop(p)));
  const secs = (now() - t0) / 1000;
  return { records: partitions * recordsPerPartition, bytes, secs, latencies: [] };
}

// ---- the cases ---------------------------------------------------------------

interface Row {
  what: string;
  sluice: ReturnType<typeof summarize>;
  raw: ReturnType<typeof summarize>;
  target: number;
}

async function appendCase(partitions: number, fsync: 'always' | 'never', batch: ProducerRecord[], encoded: Buffer, keep: boolean): Promise<{ row: Row; keptDir: string | null }> {
  const batchesPerPartition = Math.max(1, Math.round(TOTAL_RECORDS / BATCH / partitions));
  const sluice: Run[] = [];
  const raw: Run[] = [];
  let keptDir: string | null = null;
  for (let round = 0; round < ROUNDS; round++) {
    const rdir = tempDir('raw');
    try {
      await settle();
      raw.push(await rawAppend(rdir, partitions, fsync === 'always', encoded, batchesPerPartition));
    } finally {
      removeDir(rdir);
    }
    const sdir = tempDir('log');
    await settle();
    try {
      sluice.push(await sluiceAppend(sdir, partitions, fsync, batch, batchesPerPartition));
    } finally {
      if (keep && round === ROUNDS - 1) keptDir = sdir;
      else removeDir(sdir);
    }
  }
  const what = `append, ${partitions} partition${partitions > 1 ? 's' : ''}, fsync ${fsync}`;
  return { row: { what, sluice: summarize(sluice), raw: summarize(raw), target: 1_000_000 }, keptDir };
}

async function readCase(dir: string, partitions: number, maxRecords: number): Promise<Row> {
  const batchesPerPartition = Math.max(1, Math.round(TOTAL_RECORDS / BATCH / partitions));
  const sluice: Run[] = [];
  const raw: Run[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await settle();
    raw.push(await rawRead(dir, partitions, batchesPerPartition * BATCH));
    await settle();
    const r = await sluiceRead(dir, maxRecords);
    if (r.records !== partitions * batchesPerPartition * BATCH) throw new Error(`read back ${r.records} records, expected ${partitions * batchesPerPartition * BATCH}`);
    sluice.push(r);
  }
  const what = `read, ${partitions} partition${partitions > 1 ? 's' : ''}${maxRecords === READ_MAX_RECORDS ? '' : `, ${maxRecords} records/read`}`;
  return { what, sluice: summarize(sluice), raw: summarize(raw), target: 2_000_000 };
}

export async function run(): Promise<void> {
  const batch = makeBatch();
  const encoded = encodeBatch(batch, { baseOffset: 0, appendTime: Date.now() });
  console.log(
    `log: ${fmtInt(TOTAL_RECORDS)} records of ${RECORD_BYTES}-byte values (null keys) per case, ${fmtInt(BATCH)} records per append ` +
      `(${fmtInt(encoded.length)}-byte batches), ${INFLIGHT} appends in flight per partition; reads of up to ${READ_MAX_BYTES / 1024} KiB / ${fmtInt(READ_MAX_RECORDS)} records; ` +
      `median of ${ROUNDS} rounds, raw limit and Sluice alternating.\n`,
  );

  // Warm-up (JIT, page cache, file system): a small run of each path, not reported.
  {
    const dir = tempDir('warmup');
    try {
      await rawAppend(dir, 1, true, encoded, 50);
      const w = await sluiceAppend(join(dir, 'log'), 2, 'never', batch, 100);
      await sluiceRead(join(dir, 'log'), READ_MAX_RECORDS);
      await rawRead(join(dir, 'log'), 2, w.records / 2);
    } finally {
      removeDir(dir);
    }
  }

  const rows: Row[] = [];
  for (const partitions of [1, 8]) {
    rows.push((await appendCase(partitions, 'always', batch, encoded, false)).row);
    const { row, keptDir } = await appendCase(partitions, 'never', batch, encoded, true);
    rows.push(row);
    try {
      rows.push(await readCase(keptDir!, partitions, READ_MAX_RECORDS));
      // The consumer's default read size (src/log/consumer.ts): small reads of large batches.
      rows.push(await readCase(keptDir!, partitions, CONSUMER_MAX_RECORDS));
    } finally {
      removeDir(keptDir!);
    }
  }

  printTable(
    ['case', 'Sluice rec/s', 'raw rec/s', 'Sluice/raw', 'target rec/s', 'met', 'Sluice MB/s', 'p50 ms', 'p99 ms', 'raw p50 ms', 'raw p99 ms'],
    rows.map((r) => {
      const ratio = r.sluice.rps / r.raw.rps;
      const met = r.sluice.rps >= r.target && ratio >= 0.7 ? 'yes' : r.sluice.rps >= r.target ? 'rate only' : ratio >= 0.7 ? 'ratio only' : 'no';
      return [r.what, r.sluice.rps, r.raw.rps, fmtRatio(ratio), r.target, met, r.sluice.mbps.toFixed(0), fmtMs(r.sluice.p50), fmtMs(r.sluice.p99), fmtMs(r.raw.p50), fmtMs(r.raw.p99)];
    }),
  );
  console.log(
    '\nlatency: per append call (call to ack) for Sluice, per batch write(+fdatasync) for raw; pooled over all rounds.' +
      '\ntargets (issue 2): append >= 1,000,000 rec/s, read >= 2,000,000 rec/s, and Sluice/raw >= 70%.',
  );
}
