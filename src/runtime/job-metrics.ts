// A running job's Prometheus metrics, served by `sluice run --http` at
// /metrics beside the table queries: its progress, its event time per source
// partition (how far behind the wall clock it is, which partition holds it
// back) and its operators' counters (late events dropped, duplicates). All
// read from Job.status() at scrape time; the broker's /metrics has the log's
// side (end offsets, group lag).
//
// A Registry per job, not prom-client's global one: a process (a test, an
// embedding app) may run several jobs.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobStatus } from './job.ts';

export class JobMetrics {
  readonly #registry = new Registry();

  constructor(job: string, status: () => JobStatus) {
    const registers = [this.#registry];
    // Counters refilled from the job's own totals at each scrape (prom-client counters have no set()).
    const total = (name: string, help: string, pick: (s: JobStatus) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['job'] as const,
        registers,
        collect() {
          this.reset();
          this.inc({ job }, pick(status()));
        },
      });
    total('sluice_job_records_in_total', 'Records the job read from its sources.', (s) => s.recordsIn);
    total('sluice_job_records_out_total', 'Records the job wrote to its sinks.', (s) => s.recordsOut);
    total('sluice_job_dead_letters_total', 'Records the job could not decode or process, sent to its dead-letter topic.', (s) => s.deadLetters);
    total('sluice_job_checkpoints_total', 'Checkpoints the job completed.', (s) => s.checkpoints);
    new Gauge({
      name: 'sluice_job_watermark_ms',
      help: "The job's event-time watermark, ms since the epoch (absent before the first event time).",
      labelNames: ['job'] as const,
      registers,
      collect() {
        this.reset();
        const w = status().watermark;
        if (Number.isFinite(w)) this.set({ job }, w);
      },
    });
    new Gauge({
      name: 'sluice_job_source_watermark_ms',
      help: "Each source partition's watermark (its largest event time minus the allowed disorder), ms since the epoch.",
      labelNames: ['job', 'source', 'origin'] as const,
      registers,
      collect() {
        this.reset();
        for (const o of status().origins) if (o.watermark !== null) this.set({ job, source: o.source, origin: o.origin }, o.watermark);
      },
    });
    new Gauge({
      name: 'sluice_job_source_idle',
      help: '1 when a source partition is idle (or ended) and no longer holds the watermark back.',
      labelNames: ['job', 'source', 'origin'] as const,
      registers,
      collect() {
        this.reset();
        for (const o of status().origins) this.set({ job, source: o.source, origin: o.origin }, o.idle ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sluice_job_operator_count',
      help: "Operators' counters (late-dropped, late-partial, duplicates, unmatched...), including earlier runs'.",
      labelNames: ['job', 'operator', 'counter'] as const,
      registers,
      collect() {
        this.reset();
        for (const [operator, counters] of Object.entries(status().counters)) {
          for (const [counter, n] of Object.entries(counters)) this.set({ job, operator, counter }, n);
        }
      },
    });
    collectDefaultMetrics({ register: this.#registry });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.#registry.contentType, body: await this.#registry.metrics() };
  }
}
