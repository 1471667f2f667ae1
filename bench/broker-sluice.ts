// The Sluice side of the broker benchmark: the same three measurements on any
// Log — the embedded file log in this process, or a RemoteLog talking to a
// `sluice serve` process — so the two differ only by the network hop.
//
//   produce: PARTITIONS workers, one per partition, each awaiting
//            log.append(topic, p, <BATCH records>) before the next (the remote
//            client allows one append in flight per partition; the embedded
//            run gets the same, so the hop is the only difference)
//   consume: one read loop per partition, concurrently, from offset 0 to the
//            end, checking that offsets are contiguous and every value is there
//   latency: single 1-record appends to one partition, one after another,
//            each timed from call to acknowledgement

import type { FsyncPolicy, Log } from '../src/log/log.ts';
import type { ProducerRecord } from '../src/record.ts';
import { now } from './util.ts';

export interface Throughput {
  records: number;
  secs: number;
}

export async function createTopic(log: Log, topic: string, partitions: number, fsync: FsyncPolicy): Promise<void> {
  await log.createTopic(topic, { partitions, file: { fsync } });
}

export async function sluiceProduce(log: Log, topic: string, partitions: number, batch: ProducerRecord[], batchesPerPartition: number): Promise<Throughput> {
  const worker = async (p: number): Promise<void> => {
    let expected = 0;
    for (let i = 0; i < batchesPerPartition; i++) {
      const r = await log.append(topic, p, batch);
      if (r.baseOffset !== expected || r.lastOffset !== expected + batch.length - 1) {
        throw new Error(`partition ${p}: append ${i} got offsets ${r.baseOffset}..${r.lastOffset}, expected ${expected}..${expected + batch.length - 1}`);
      }
      expected += batch.length;
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: partitions }, (_, p) => worker(p)));
  const secs = (now() - t0) / 1000;
  // Every acknowledged record is in the log, no more, no less.
  const d = await log.describeTopic(topic);
  for (const p of d.partitions) {
    if (p.endOffset !== batchesPerPartition * batch.length) throw new Error(`partition ${p.partition} ends at ${p.endOffset}, expected ${batchesPerPartition * batch.length}`);
  }
  return { records: partitions * batchesPerPartition * batch.length, secs };
}

/** Reads every partition to `perPartition` records; throws unless each record is there once, whole. */
export async function sluiceConsume(log: Log, topic: string, partitions: number, perPartition: number, valueBytes: number, maxBytes: number): Promise<Throughput> {
  let records = 0;
  const loop = async (p: number): Promise<void> => {
    let offset = 0;
    while (offset < perPartition) {
      const r = await log.read(topic, p, offset, { maxBytes, maxRecords: 100_000 });
      const recs = r.records;
      if (recs.length === 0) throw new Error(`partition ${p}: empty read at ${offset} of ${perPartition}`);
      for (let i = 0; i < recs.length; i++) {
        const rec = recs[i]!;
        if (rec.offset !== offset + i || rec.value?.length !== valueBytes) throw new Error(`partition ${p}: record at ${offset + i} is offset ${rec.offset} with ${rec.value?.length} bytes`);
      }
      records += recs.length;
      offset = r.nextOffset;
    }
    if (offset !== perPartition) throw new Error(`partition ${p}: read to ${offset}, expected ${perPartition}`);
  };
  const t0 = now();
  await Promise.all(Array.from({ length: partitions }, (_, p) => loop(p)));
  const secs = (now() - t0) / 1000;
  if (records !== partitions * perPartition) throw new Error(`consumed ${records} records, produced ${partitions * perPartition}`);
  return { records, secs };
}

/** Latencies (ms) of `n` sequential 1-record appends, after `warmup` untimed ones. */
export async function sluiceLatency(log: Log, topic: string, record: ProducerRecord, n: number, warmup: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < warmup + n; i++) {
    const t0 = now();
    const r = await log.append(topic, 0, [record]);
    const ms = now() - t0;
    if (r.baseOffset !== i) throw new Error(`latency append ${i} landed at ${r.baseOffset}`);
    if (i >= warmup) out.push(ms);
  }
  return out;
}
