// Runs an application against a Log: one loop pulls batches from every source
// (at most one outstanding next() per source, so input is bounded), pushes each
// through the engine, and awaits the sinks' writes before pulling again — so a
// slow sink slows every source. Every `commitIntervalMs` (or `commitRecords`
// input and output records) it checkpoints (checkpointer.ts): under
// exactly-once, the outputs, state changes and input positions of the epoch
// since the last checkpoint commit as one transaction.

import type { Guarantee, Sink, SinkRecord, Source } from '../dataflow/io.ts';
import type { Application, ErrorPolicy } from '../dataflow/application.ts';
import type { SinkNode, SourceNode } from '../dataflow/graph.ts';
import { Checkpointer } from './checkpointer.ts';
import { CheckpointSchedule, raceTimeout } from './checkpoint-loop.ts';
import { ErrorCodes, SluiceError, isSluiceError } from '../errors.ts';
import type { Log } from '../log/log.ts';
import { topicSink } from '../connectors/topic-sink.ts';
import { Engine } from './engine/engine.ts';
import { sumCounters } from './engine/counters.ts';
import type { DeadLetter } from './engine/dead-letters.ts';
import { WorkerPool } from './workers/worker-pool.ts';
import { stagesOf } from './engine/stages.ts';
import type { OriginTime } from './engine/event-clock.ts';
import { DEFAULT_COMMIT_INTERVAL_MS, DEFAULT_COMMIT_RECORDS } from './defaults.ts';
import { checkTopicsExist } from './topics-check.ts';
import type { StateBackendOptions } from './state-on-disk.ts';

export interface JobOptions {
  log: Log;
  /** Process what bounded sources hold at start, checkpoint, and return. */
  untilEnd?: boolean;
  /** Aborting stops the job gracefully: the in-flight batch finishes, then a final checkpoint. */
  signal?: AbortSignal;
  commitIntervalMs?: number;
  /** Checkpoint after this many input records even if the interval has not passed. */
  commitRecords?: number;
  maxBatchRecords?: number;
  onError?: ErrorPolicy;
  /** Default exactly-once (see docs/exactly-once.md). */
  guarantee?: Guarantee;
  /**
   * Worker threads for state partitions (default 1: everything on this
   * thread). Above 1, `appFile` is required: each worker loads it to build the
   * same graph.
   */
  workers?: number;
  appFile?: string;
  /** Where keyed state lives: in memory (default), or on disk with a cache (docs/state-on-disk.md). */
  state?: StateBackendOptions;
  /** Called once the job has opened its sources and sinks and restored its state, before the first batch. */
  onReady?: () => void;
}

export interface JobResult {
  recordsIn: number;
  recordsOut: number;
  deadLetters: number;
  checkpoints: number;
  /** Operator counters (late events dropped, duplicates), including earlier runs' (saved with the state). */
  counters: Record<string, Record<string, number>>;
  /** The event-time watermark at the end (-Infinity: no event time yet; Infinity: bounded input ended). */
  watermark: number;
}

export interface JobStatus extends JobResult {
  /** Per source partition: its largest event time, its watermark, and whether it is idle. */
  origins: OriginTime[];
}

/** How often the wall clock is consulted for idle partitions and processing-time timers. */
const TICK_MS = 100;

interface Pulled {
  node: SourceNode;
  batch: Awaited<ReturnType<Source['next']>>;
}

/**
 * A running dataflow: `await new Job(app, { log }).run()`. While it runs,
 * `lookup`/`scan` query its tables and `status()` reports its progress.
 */
export class Job {
  readonly app: Application;
  readonly engine: Engine;
  private readonly opts: Required<Omit<JobOptions, 'signal' | 'onError' | 'appFile' | 'onReady' | 'state'>> & Pick<JobOptions, 'signal' | 'onError' | 'appFile' | 'onReady'>;
  private readonly checkpointer: Checkpointer;
  private readonly stop = new AbortController();
  private readonly sources: SourceNode[];
  private readonly sinks: Sink[];
  private deadLetters: Sink | null = null;
  /** Everything opened, closed in reverse at the end. */
  private readonly opened: { close(): Promise<void> }[] = [];
  private pool: WorkerPool | null = null;
  private readonly unprocessed = new Set<SourceNode>();
  /** Outputs and dead letters sent back by workers, waiting to be written. */
  private readonly fromWorkers = new Map<SinkNode, SinkRecord[]>();
  private readonly deadFromWorkers: DeadLetter[] = [];
  private recordsOutInWorkers = 0;
  private result: JobResult = { recordsIn: 0, recordsOut: 0, deadLetters: 0, checkpoints: 0, counters: {}, watermark: -Infinity };

  constructor(app: Application, options: JobOptions) {
    this.app = app;
    this.engine = new Engine(app, options.onError);
    this.opts = {
      log: options.log,
      untilEnd: options.untilEnd ?? false,
      signal: options.signal,
      commitIntervalMs: options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS,
      commitRecords: options.commitRecords ?? DEFAULT_COMMIT_RECORDS,
      maxBatchRecords: options.maxBatchRecords ?? 1000,
      workers: options.workers ?? 1,
      appFile: options.appFile,
      onError: options.onError,
      guarantee: options.guarantee ?? 'exactly-once',
      onReady: options.onReady,
    };
    this.sources = app.pipelines.flatMap((p) => p.sources());
    this.sinks = [...new Set(app.nodes().flatMap((n) => (n.kind === 'sink' ? [n.sink] : [])))];
    this.checkpointer = new Checkpointer({
      app,
      log: options.log,
      guarantee: this.opts.guarantee,
      engine: this.engine,
      sinks: this.sinks,
      sources: this.sources,
      pool: () => this.pool,
      disk: options.state,
    });
  }

  /**
   * Interactive queries: the current row of `key` in the table named `table`
   * (a Table's name option), read between batches — what the job has
   * processed, not necessarily committed yet.
   */
  async lookup<V = unknown>(table: string, key: string): Promise<V | undefined> {
    const rows = await this.tableRows(table, key);
    return rows[0]?.[1] as V | undefined;
  }

  /** The names of the job's tables (what lookup and scan take). */
  tables(): string[] {
    return this.engine.tableNames();
  }

  /** Every row of the table named `table`. */
  async scan<V = unknown>(table: string): Promise<Map<string, V>> {
    return new Map((await this.tableRows(table)) as [string, V][]);
  }

  private async tableRows(table: string, key?: string): Promise<[string, unknown][]> {
    // Asked here first even with workers (same graph; their rows are not here): an unknown table is
    // the caller's error, while in a worker any error is a worker failure, which stops the job.
    const here = this.engine.tableRows(table, key);
    return this.pool ? this.pool.query(table, key) : here;
  }

  /** Stops gracefully (same as aborting the signal passed in the options). */
  requestStop(): void {
    this.stop.abort();
  }

  async run(): Promise<JobResult> {
    const { log } = this.opts;
    const onAbort = () => this.stop.abort();
    this.opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (this.opts.signal?.aborted) this.stop.abort();
    const opened = this.opened;
    try {
      if (this.opts.workers > 1) await this.startWorkers();
      // Before the first thing the job creates (its changelog, in restore()).
      await checkTopicsExist(this.app, log);
      const { guarantee } = this.opts;
      await this.checkpointer.fence();
      for (const sink of this.sinks) {
        await sink.open({ log, job: this.app.name, guarantee });
        opened.push(sink);
      }
      for (const n of this.sources) {
        await n.source.open({ log, job: this.app.name, untilEnd: this.opts.untilEnd, maxBatchRecords: this.opts.maxBatchRecords, guarantee });
        opened.push(n.source);
      }
      await this.checkpointer.restore();
      for (const n of this.sources) {
        const origins = n.source.origins?.();
        if (origins) this.engine.clock.declareOrigins(n, origins, Date.now());
      }
      this.checkpointer.noteStartPositions();
      this.opts.onReady?.();
      await this.loop();
      await this.checkpoint();
      await this.checkpointer.settle();
    } catch (e) {
      this.stop.abort();
      throw e;
    } finally {
      this.opts.signal?.removeEventListener('abort', onAbort);
      for (const c of opened.reverse()) await c.close().catch(() => {});
      await this.pool?.close();
      await this.checkpointer.close();
    }
    const { origins: _, ...result } = this.status();
    return result;
  }

  /** The job's progress so far (what run() returns at its end), with event time per source partition: for monitoring. */
  status(): JobStatus {
    return {
      recordsIn: this.engine.recordsIn,
      recordsOut: this.engine.recordsOut + this.recordsOutInWorkers,
      deadLetters: this.result.deadLetters,
      checkpoints: this.result.checkpoints,
      counters: this.pool ? sumCounters(this.engine.counters(), this.pool.counters()) : this.engine.counters(),
      watermark: this.engine.clock.watermark,
      origins: this.engine.clock.origins(),
    };
  }

  private async startWorkers(): Promise<void> {
    const file = this.opts.appFile;
    if (!file) {
      throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `workers: ${this.opts.workers} needs appFile: each worker thread loads the application file to build the same graph`);
    }
    const pool = await WorkerPool.start(file, this.opts.workers, stagesOf(this.app), this.opts.onError, (o) => {
      for (const [id, records] of o.outputs) {
        const node = this.engine.node(id) as SinkNode;
        let list = this.fromWorkers.get(node);
        if (!list) this.fromWorkers.set(node, (list = []));
        for (const r of records) list.push(r);
      }
      for (const d of o.dead) this.deadFromWorkers.push(d);
      this.recordsOutInWorkers += o.recordsOut;
    });
    this.pool = pool;
    this.engine.keyedRouter = (node, events) => pool.route(node.id, events);
    this.engine.onWatermark = (w) => pool.watermark(w);
  }

  private async loop(): Promise<void> {
    const pending = new Map<SourceNode, Promise<Pulled>>();
    // A batch fetched ahead is delivered but not processed: a source that cannot put its
    // position in the batch (no checkpoint()) must not be told it is done (see checkpointer.ts).
    const pull = (node: SourceNode) =>
      pending.set(
        node,
        node.source.next(this.stop.signal).then((batch) => {
          if (batch) this.unprocessed.add(node);
          return { node, batch };
        }),
      );
    for (const n of this.sources) pull(n);
    const schedule = new CheckpointSchedule(this.opts.commitIntervalMs, this.opts.commitRecords);
    let lastTick = Date.now();
    while (pending.size > 0) {
      // Wake on time even when no input arrives: to checkpoint, and for the wall clock's part in
      // event time (idle partitions, processing-time timers).
      const now0 = Date.now();
      const got = await raceTimeout([...pending.values()], Math.max(0, Math.min(lastTick + TICK_MS - now0, schedule.dueIn(now0))));
      const before = this.engine.recordsOut + this.recordsOutInWorkers;
      if (got !== 'timeout') {
        pending.delete(got.node);
        if (got.batch === null) {
          // The source ended (bounded input) — unless the job is stopping, which is not the end of its input.
          if (!this.stop.signal.aborted) this.engine.endSource(got.node);
        } else {
          this.unprocessed.delete(got.node);
          this.engine.pushSource(got.node, got.batch);
          this.checkpointer.processedBatch(got.node, got.batch.checkpoint);
          schedule.add(got.batch.records.length);
        }
      }
      const now = Date.now();
      if (now - lastTick >= TICK_MS) {
        lastTick = now;
        this.engine.tick(now);
        this.pool?.tick(now);
      }
      await this.pool?.capacity();
      await this.drain();
      // Outputs count too: held for the next transaction, they must not grow without bound.
      schedule.add(this.engine.recordsOut + this.recordsOutInWorkers - before);
      if (schedule.due()) {
        await this.checkpoint();
        schedule.taken();
      }
      // Fetch ahead only after the checkpoint, so the source just processed has nothing in flight at it.
      if (got !== 'timeout' && got.batch !== null && !this.stop.signal.aborted) pull(got.node);
    }
  }

  /** Hands the engine's outputs to the sinks; each write resolves when the sink has room again. */
  private async drain(): Promise<void> {
    for (const [node, records] of this.engine.takeOutputs()) await node.sink.write(records);
    for (const [node, records] of this.fromWorkers) {
      if (records.length === 0) continue;
      this.fromWorkers.set(node, []);
      await node.sink.write(records);
    }
    const dead = [...this.engine.takeDeadLetters(), ...this.deadFromWorkers.splice(0)];
    if (dead.length > 0) {
      const sink = await this.deadLetterSink();
      await sink.write(dead.map((d) => ({ key: null, value: d.value, timestamp: d.timestamp, headers: d.headers })));
      this.result.deadLetters += dead.length;
    }
  }

  /**
   * The dead-letter topic, created and opened at the first dead letter. It is
   * a topic sink like the job's own, so under exactly-once a dead letter is
   * committed with the checkpoint it belongs to (a replay does not repeat it).
   */
  private async deadLetterSink(): Promise<Sink> {
    if (this.deadLetters) return this.deadLetters;
    const topic = this.app.deadLetterTopic;
    try {
      await this.opts.log.createTopic(topic, { partitions: 1 });
    } catch (e) {
      if (!isSluiceError(e, ErrorCodes.TOPIC_EXISTS)) {
        throw new SluiceError(ErrorCodes.IO_ERROR, `cannot create the dead-letter topic ${topic}: ${(e as Error).message}`, { topic }, { cause: e });
      }
    }
    const sink = topicSink({ topic });
    await sink.open({ log: this.opts.log, job: this.app.name, guarantee: this.opts.guarantee });
    this.sinks.push(sink); // the checkpointer sees the same array: flushed or committed like the others
    this.opened.push(sink);
    this.deadLetters = sink;
    return sink;
  }

  /** Everything processed so far becomes durable, per the job's guarantee (checkpointer.ts). */
  private async checkpoint(): Promise<void> {
    if (this.pool) {
      await this.pool.barrier();
      await this.drain();
    }
    await this.checkpointer.checkpoint(this.unprocessed);
    this.result.checkpoints++;
  }
}

/**
 * Runs `app` until its bounded sources end (untilEnd) or the signal aborts.
 * @deprecated use `new Job(app, options).run()`, the same; `runJob` goes in the next release.
 */
export function runJob(app: Application, options: JobOptions): Promise<JobResult> {
  return new Job(app, options).run();
}
