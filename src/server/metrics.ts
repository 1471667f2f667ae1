// The broker's Prometheus metrics. Traffic counters are bumped by the code
// that moves records (HTTP API, TCP protocol); everything that describes the
// log itself (end offsets, group lag) is read from the Log at scrape time, so
// it is exact for whatever wrote to the data dir, not only for this process.
//
// Each BrokerMetrics has its own Registry rather than prom-client's global
// one: a process (a test, an embedding app) may run several brokers, and the
// global registry would refuse the second set of metric names.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isSluiceError } from '../errors.ts';
import type { Log } from '../log/log.ts';

/** fsync latencies span ~50 µs (NVMe, page cache) to seconds (a stalled disk). */
const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

interface LogSnapshot {
  ends: { topic: string; partition: number; end: number }[];
  lags: { group: string; topic: string; partition: number; lag: number }[];
}

export class BrokerMetrics {
  readonly #log: Log;
  readonly #registry = new Registry();
  readonly #recordsIn: Counter<'topic'>;
  readonly #recordsOut: Counter<'topic'>;
  readonly #bytesIn: Counter<'topic'>;
  readonly #bytesOut: Counter<'topic'>;
  readonly #groupLag: Gauge<'group' | 'topic' | 'partition'>;
  readonly #endOffset: Gauge<'topic' | 'partition'>;
  readonly #fsync: Histogram;
  /** Scrapes run one at a time: each resets and refills the log gauges, and two interleaved would mix. */
  #scraping: Promise<unknown> = Promise.resolve();

  constructor(log: Log) {
    this.#log = log;
    const registers = [this.#registry];
    const counter = (name: string, help: string) => new Counter({ name, help, labelNames: ['topic'] as const, registers });
    this.#recordsIn = counter('sluice_records_in_total', 'Records appended through the broker, by topic.');
    this.#recordsOut = counter('sluice_records_out_total', 'Records handed to readers by the broker, by topic.');
    this.#bytesIn = counter('sluice_bytes_in_total', 'Key and value bytes appended through the broker, by topic.');
    this.#bytesOut = counter('sluice_bytes_out_total', 'Key and value bytes handed to readers by the broker, by topic.');
    this.#groupLag = new Gauge({
      name: 'sluice_group_lag',
      help: 'Records in a partition after the offset a consumer group committed (end offset - committed).',
      labelNames: ['group', 'topic', 'partition'] as const,
      registers,
    });
    this.#endOffset = new Gauge({
      name: 'sluice_partition_end_offset',
      help: 'The offset the next record appended to a partition will get.',
      labelNames: ['topic', 'partition'] as const,
      registers,
    });
    this.#fsync = new Histogram({ name: 'sluice_fsync_seconds', help: 'Time one fdatasync of a log file took.', buckets: FSYNC_BUCKETS, registers });
    // Process metrics (CPU, memory, event loop lag, GC). prom-client starts a GC observer and an
    // event-loop histogram per call and never stops them: one BrokerMetrics per broker, not per request.
    collectDefaultMetrics({ register: this.#registry });
  }

  recordsIn(topic: string, records: number, bytes: number): void {
    this.#recordsIn.inc({ topic }, records);
    this.#bytesIn.inc({ topic }, bytes);
  }

  recordsOut(topic: string, records: number, bytes: number): void {
    this.#recordsOut.inc({ topic }, records);
    this.#bytesOut.inc({ topic }, bytes);
  }

  /** One fsync's duration: the broker opens its log with this as onFsync, failed syncs included (a slow failure is what an operator needs to see). */
  observeFsync(seconds: number): void {
    this.#fsync.observe(seconds);
  }

  /** The exposition text for GET /metrics, with the log gauges read fresh. */
  render(): Promise<{ contentType: string; body: string }> {
    const run = this.#scraping.then(async () => {
      const snap = await this.#snapshot();
      // Reset first: a deleted topic or group must disappear, not keep its last value.
      this.#endOffset.reset();
      this.#groupLag.reset();
      for (const e of snap.ends) this.#endOffset.set({ topic: e.topic, partition: String(e.partition) }, e.end);
      for (const l of snap.lags) this.#groupLag.set({ group: l.group, topic: l.topic, partition: String(l.partition) }, l.lag);
      return { contentType: this.#registry.contentType, body: await this.#registry.metrics() };
    });
    this.#scraping = run.catch(() => {});
    return run;
  }

  async #snapshot(): Promise<LogSnapshot> {
    const snap: LogSnapshot = { ends: [], lags: [] };
    for (const t of await this.#log.listTopics()) {
      let d;
      try {
        d = await this.#log.describeTopic(t.name);
      } catch (e) {
        // Deleted between the listing and now: it simply is not reported.
        if (isSluiceError(e, 'UNKNOWN_TOPIC')) continue;
        throw e;
      }
      for (const p of d.partitions) snap.ends.push({ topic: d.name, partition: p.partition, end: p.endOffset });
      for (const g of d.groups) {
        for (const p of g.partitions) snap.lags.push({ group: g.group, topic: d.name, partition: p.partition, lag: p.lag });
      }
    }
    return snap;
  }
}

