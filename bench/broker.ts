// The broker benchmark (issue 8): `sluice serve` in a process of its own,
// driven over loopback through RemoteLog, beside its two baselines in the same
// run — the embedded file log doing the same work in this process, and NATS
// JetStream (nats-server with file storage, the official `nats` client).
//
// Workload: 100-byte random values, null keys; produce in batches of BATCH
// records, PARTITIONS partitions (streams for JetStream) in parallel; consume
// everything back; then single-record produce latency. What each system does
// exactly is in broker-sluice.ts and broker-nats.ts.
//
// Durability, made equal: JetStream file storage acknowledges a message once
// it is written to its block file, and fsyncs every 2 minutes (hard-wired in
// nats-server 2.9; the `sync_interval` setting came in 2.10). Sluice's topic
// setting `fsync: 'never'` is the same promise (acknowledged after write(), no
// fsync), so that is the comparison row; Sluice's default `fsync: 'always'`
// (acknowledged after fdatasync) is printed too, as the stricter row.
//
// Cases alternate within each round (embedded, broker, JetStream, ...) and the
// median of ROUNDS rounds is reported, so drift on a shared machine hits all.
//
// Knobs (environment): BENCH_BROKER_RECORDS (per Sluice throughput case,
// 600,000), BENCH_BROKER_NATS_RECORDS (per JetStream case, 40,000: one
// message per record is ~50x slower, and the whole bench should stay under 2
// minutes), BENCH_BROKER_ROUNDS (5), BENCH_BROKER_BATCH (1000),
// BENCH_BROKER_PARTITIONS (4), BENCH_BROKER_LATENCY (timed single appends per
// case, 1000), BENCH_BROKER_NATS_WINDOW (PubAcks outstanding per stream, 1000),
// BENCH_BROKER_NATS_BURST (refill the window after this many acks, 500),
// BENCH_BROKER_PROF (a directory: the broker process runs with --cpu-prof there).

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openFileLog } from '../src/log/file/file-log.ts';
import type { Log } from '../src/log/log.ts';
import { openRemoteLog } from '../src/log/remote/remote-log.ts';
import type { ProducerRecord } from '../src/record.ts';
import { connectNats, createStreams, deleteStreams, natsConsume, natsLatency, natsProduce, type Nats } from './broker-nats.ts';
import { natsServerVersion, startNatsServer, startSluiceBroker, type ServerProcess } from './broker-procs.ts';
import { createTopic, sluiceConsume, sluiceLatency, sluiceProduce, type Throughput } from './broker-sluice.ts';
import { fmtInt, fmtMs, median, percentile, printTable, removeDir, settle, tempDir } from './util.ts';

const VALUE_BYTES = 100;
const RECORDS = envInt('BENCH_BROKER_RECORDS', 600_000);
const ROUNDS = envInt('BENCH_BROKER_ROUNDS', 5);
const BATCH = envInt('BENCH_BROKER_BATCH', 1000);
const PARTITIONS = envInt('BENCH_BROKER_PARTITIONS', 4);
const LATENCY = envInt('BENCH_BROKER_LATENCY', 1000);
const LATENCY_WARMUP = 200;
const NATS_RECORDS = envInt('BENCH_BROKER_NATS_RECORDS', 40_000);
const NATS_WINDOW = envInt('BENCH_BROKER_NATS_WINDOW', 1000);
/** Refill the window once this many of its oldest PubAcks are in. */
const NATS_BURST = envInt('BENCH_BROKER_NATS_BURST', 500);
/** Pull requests of this many messages: JetStream's counterpart of a read's size. */
const NATS_PULL = 1000;
/** Bytes per Sluice read (the log's default is 256 KiB); the same for embedded and broker. */
const READ_MAX_BYTES = 1024 * 1024;

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : Number.parseInt(v, 10);
}

interface Sample {
  produce: Throughput;
  consume: Throughput;
  latencies: number[];
}

type CaseId = 'broker-never' | 'jetstream' | 'embedded-never' | 'broker-always' | 'embedded-always';

const CASES: { id: CaseId; system: string; durability: string }[] = [
  { id: 'broker-never', system: 'Sluice broker (other process, RemoteLog)', durability: "fsync 'never': ack after write()" },
  { id: 'jetstream', system: 'NATS JetStream (file storage)', durability: 'ack after write(), fsync every 2 min' },
  { id: 'embedded-never', system: 'Sluice embedded (in-process FileLog)', durability: "fsync 'never': ack after write()" },
  { id: 'broker-always', system: 'Sluice broker (other process, RemoteLog)', durability: "fsync 'always': ack after fdatasync" },
  { id: 'embedded-always', system: 'Sluice embedded (in-process FileLog)', durability: "fsync 'always': ack after fdatasync" },
];

const rate = (t: Throughput): number => t.records / t.secs;

let topicSeq = 0;

async function sluiceCase(log: Log, fsync: 'never' | 'always', batch: ProducerRecord[], one: ProducerRecord, records: number, latency: number): Promise<Sample> {
  const topic = `bench-${fsync}-${topicSeq++}`;
  const latTopic = `${topic}-latency`;
  await createTopic(log, topic, PARTITIONS, fsync);
  await createTopic(log, latTopic, 1, fsync);
  try {
    const batchesPerPartition = Math.max(1, Math.round(records / BATCH / PARTITIONS));
    await settle();
    const produce = await sluiceProduce(log, topic, PARTITIONS, batch, batchesPerPartition);
    await settle();
    const consume = await sluiceConsume(log, topic, PARTITIONS, batchesPerPartition * BATCH, VALUE_BYTES, READ_MAX_BYTES);
    await settle();
    const latencies = await sluiceLatency(log, latTopic, one, latency, LATENCY_WARMUP);
    return { produce, consume, latencies };
  } finally {
    await log.deleteTopic(topic);
    await log.deleteTopic(latTopic);
  }
}

async function natsCase(n: Nats, payload: Uint8Array, records: number, latency: number): Promise<Sample> {
  const streams = await createStreams(n, `bench-${topicSeq++}`, PARTITIONS);
  const [latStream] = await createStreams(n, `bench-${topicSeq++}-latency`, 1);
  try {
    const perStream = Math.max(1, Math.round(records / PARTITIONS));
    await settle();
    const produce = await natsProduce(n, streams, payload, perStream, NATS_WINDOW, NATS_BURST);
    await settle();
    const consume = await natsConsume(n, streams, perStream, VALUE_BYTES, NATS_PULL);
    await settle();
    const latencies = await natsLatency(n, latStream!, payload, latency, LATENCY_WARMUP);
    return { produce, consume, latencies };
  } finally {
    await deleteStreams(n, [...streams, latStream!]);
  }
}

export async function run(): Promise<void> {
  const natsVersion = natsServerVersion();
  if (!natsVersion) {
    console.log('skipped: nats-server is not on the PATH (the JetStream baseline needs it; nats-server 2.9+ with JetStream)');
    return;
  }
  const batch: ProducerRecord[] = Array.from({ length: BATCH }, () => ({ key: null, value: randomBytes(VALUE_BYTES) }));
  const one: ProducerRecord = { key: null, value: randomBytes(VALUE_BYTES) };
  const payload = randomBytes(VALUE_BYTES);
  console.log(
    `broker: ${VALUE_BYTES}-byte records over loopback. Sluice: ${fmtInt(RECORDS)} records per case, ${PARTITIONS} partitions, ${fmtInt(BATCH)} records per append, ` +
      `1 append in flight per partition, reads of up to ${READ_MAX_BYTES / 1024} KiB. JetStream (${natsVersion}): ${fmtInt(NATS_RECORDS)} records per case, ${PARTITIONS} streams, ` +
      `one message per record, up to ${fmtInt(NATS_WINDOW)} PubAcks outstanding per stream (refilled ${fmtInt(NATS_BURST)} at a time), pull consumer fetching ${NATS_PULL} at a time. ` +
      `latency: ${fmtInt(LATENCY)} single-record appends/publishes, one at a time; median of ${ROUNDS} rounds.\n`,
  );

  const root = tempDir('broker');
  const procs: ServerProcess[] = [];
  let embedded: Log | null = null;
  let remote: Log | null = null;
  let nats: Nats | null = null;
  try {
    const prof = process.env['BENCH_BROKER_PROF'];
    const broker = await startSluiceBroker(join(root, 'broker'), prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []);
    procs.push(broker);
    const natsServer = await startNatsServer(join(root, 'nats'));
    procs.push(natsServer);
    embedded = await openFileLog({ dataDir: join(root, 'embedded') });
    remote = await openRemoteLog({ url: broker.url });
    nats = await connectNats(natsServer.url);
    console.log(`sluice serve pid ${broker.pid} at ${broker.url}; nats-server pid ${natsServer.pid} at ${natsServer.url}\n`);

    // Warm-up (JIT on both sides of the hop, page cache): small runs, not reported.
    const warm = Math.min(RECORDS, 100 * BATCH);
    await sluiceCase(embedded, 'never', batch, one, warm, 200);
    await sluiceCase(remote, 'never', batch, one, warm, 200);
    await natsCase(nats, payload, Math.min(NATS_RECORDS, 20_000), 200);

    const samples = new Map<CaseId, Sample[]>(CASES.map((c) => [c.id, []]));
    for (let round = 0; round < ROUNDS; round++) {
      samples.get('embedded-never')!.push(await sluiceCase(embedded, 'never', batch, one, RECORDS, LATENCY));
      samples.get('broker-never')!.push(await sluiceCase(remote, 'never', batch, one, RECORDS, LATENCY));
      samples.get('jetstream')!.push(await natsCase(nats, payload, NATS_RECORDS, LATENCY));
      samples.get('embedded-always')!.push(await sluiceCase(embedded, 'always', batch, one, RECORDS, LATENCY));
      samples.get('broker-always')!.push(await sluiceCase(remote, 'always', batch, one, RECORDS, LATENCY));
    }
    report(samples);
  } finally {
    await nats?.nc.close();
    await remote?.close();
    await embedded?.close();
    for (const p of procs) await p.stop();
    removeDir(root);
  }
}

function report(samples: Map<CaseId, Sample[]>): void {
  const of = (id: CaseId) => samples.get(id)!;
  printTable(
    ['system', 'durability', 'produce rec/s', 'consume rec/s', 'p50 ms', 'p99 ms'],
    CASES.map((c) => {
      const s = of(c.id);
      const lat = Float64Array.from(s.flatMap((x) => x.latencies)).sort();
      return [c.system, c.durability, median(s.map((x) => rate(x.produce))), median(s.map((x) => rate(x.consume))), fmtMs(percentile(lat, 50)), fmtMs(percentile(lat, 99))];
    }),
  );
  // Ratios per round (the cases of one round ran back to back), then the median, and their spread.
  const ratios = (a: CaseId, b: CaseId, what: 'produce' | 'consume') => of(a).map((x, i) => rate(x[what]) / rate(of(b)[i]![what]));
  const x = (r: number) => `${r.toFixed(2)}x`;
  const spread = (rs: number[]) => `${x(Math.min(...rs))}-${x(Math.max(...rs))}`;
  const rows: (string | number)[][] = [];
  const add = (label: string, a: CaseId, b: CaseId, target: number | null) => {
    const ps = ratios(a, b, 'produce');
    const cs = ratios(a, b, 'consume');
    const p = median(ps);
    const c = median(cs);
    const met = target === null ? '-' : p >= target && c >= target ? 'yes' : p >= target ? 'produce only' : c >= target ? 'consume only' : 'no';
    rows.push([label, x(p), spread(ps), x(c), spread(cs), target === null ? '-' : `>= ${target}x`, met]);
  };
  console.log('');
  add("broker / JetStream, equal durability (fsync 'never')", 'broker-never', 'jetstream', 2);
  add("broker / embedded, fsync 'never'", 'broker-never', 'embedded-never', 0.5);
  add("broker / embedded, fsync 'always'", 'broker-always', 'embedded-always', 0.5);
  add("broker fsync 'always' / JetStream (stricter than JetStream)", 'broker-always', 'jetstream', null);
  printTable(['ratio', 'produce', 'rounds', 'consume', 'rounds', 'target', 'met'], rows);
  console.log(
    '\nproduce/consume: median of the rounds; ratios: median of the per-round ratios. latency: per single-record append (publish)' +
      ', call to acknowledgement, pooled over all rounds.\nEvery case checks its counts: each acknowledged record (message) is read back exactly once, in order, whole.',
  );
}
