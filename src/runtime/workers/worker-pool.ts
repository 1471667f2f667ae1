// The main thread's side of --workers N: starts the worker threads, routes
// keyed events to the owner of their state partition (partition % N), collects
// the encoded outputs they send back, and bounds how much is in flight so that
// backpressure still reaches the sources.

import { Worker } from 'node:worker_threads';
import { ErrorCodes, SluiceError, type ErrorCode } from '../../errors.ts';
import type { SinkRecord } from '../../dataflow/io.ts';
import type { Event } from '../../dataflow/graph.ts';
import { sumCounters } from '../engine/counters.ts';
import type { DeadLetter } from '../engine/dead-letters.ts';
import type { FromWorker, ToWorker, WorkerSetup } from './worker-protocol.ts';
import { fromColumns, toColumns, unpackRecords } from './worker-codec.ts';
import type { Stages } from '../engine/stages.ts';
import type { StateChange } from '../engine/keyed-state.ts';

/** Event batches a worker may have queued before the job stops pulling input. */
const MAX_IN_FLIGHT = 4;

export interface WorkerOutputs {
  outputs: [sinkNode: number, records: SinkRecord[]][];
  dead: DeadLetter[];
  recordsOut: number;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly inFlight: number[];
  private failure: SluiceError | null = null;
  private waiters: (() => void)[] = [];
  private barriers = new Map<number, { left: number; done: () => void; states: StateChange[] }>();
  private nextBarrier = 0;
  /** Keyed events routed while the last barrier was in flight (a worker sent them back to be re-routed). */
  private reroutedSinceBarrier = 0;
  private readonly onOutputs: (o: WorkerOutputs) => void;
  private readonly workerCounters: Record<string, Record<string, number>>[] = [];
  private readonly stages: Stages;
  private mainPassed = -Infinity;
  /** `${fromKeyBy}>${toKeyBy}` → per worker, the watermark its stage passed. */
  private readonly passed = new Map<string, number[]>();
  private readonly sentWatermark = new Map<number, number>();
  private readonly queries = new Map<number, { left: number; rows: [string, unknown][]; done: () => void }>();
  private nextQuery = 0;

  private constructor(n: number, stages: Stages, onOutputs: (o: WorkerOutputs) => void) {
    this.inFlight = new Array<number>(n).fill(0);
    this.stages = stages;
    this.onOutputs = onOutputs;
  }

  static async start(appFile: string, n: number, stages: Stages, onError: WorkerSetup['onError'], onOutputs: (o: WorkerOutputs) => void): Promise<WorkerPool> {
    const pool = new WorkerPool(n, stages, onOutputs);
    // Running from TypeScript sources (tests, dev) the entry is .ts; from dist it is .js.
    const ts = import.meta.url.endsWith('.ts');
    const entry = new URL(ts ? './worker-main.ts' : './worker-main.js', import.meta.url);
    const needsTsx = ts || /\.(c|m)?tsx?$/.test(appFile);
    // Loader hooks do not carry over into worker threads on Node 20, so a worker
    // that must load TypeScript registers tsx itself before importing its entry.
    const boot =
      '(async () => {' +
      (needsTsx ? `const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}); register();` : '') +
      `await import(${JSON.stringify(entry.href)});` +
      '})().catch((e) => { process.nextTick(() => { throw e; }); });';
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const w = new Worker(boot, { eval: true, workerData: { appFile, index: i, workers: n, onError } satisfies WorkerSetup });
      pool.workers.push(w);
      ready.push(
        new Promise((resolve, reject) => {
          w.on('message', (m: FromWorker) => {
            if (m.t === 'ready') resolve();
            else if (m.t === 'error') reject(pool.fail(m.message, m.code, m.details));
            else pool.handle(i, m);
          });
          w.on('error', (e) => reject(pool.fail(`worker ${i} crashed: ${e.message}`)));
          w.on('exit', (code) => {
            if (code !== 0 && !pool.closing) reject(pool.fail(`worker ${i} exited with code ${code}`));
          });
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  private closing = false;

  get size(): number {
    return this.workers.length;
  }

  /** Sends keyed events, split by owner. */
  route(node: number, events: Event[]): void {
    this.check();
    const n = this.workers.length;
    const parts: Event[][] = Array.from({ length: n }, () => []);
    for (const e of events) parts[e.partition % n]!.push(e);
    for (let i = 0; i < n; i++) {
      if (parts[i]!.length === 0) continue;
      this.inFlight[i]!++;
      this.workers[i]!.postMessage({ t: 'events', node, events: toColumns(parts[i]!) } satisfies ToWorker);
    }
  }

  /**
   * The main thread's watermark moved on: the stages it feeds follow at once;
   * a stage fed by other stages follows once every worker has passed it there
   * (see stages.ts).
   */
  watermark(watermark: number): void {
    this.mainPassed = watermark;
    for (const [k, producers] of this.stages.producers) if (producers.includes('main')) this.forwardWatermark(k);
  }

  private forwardWatermark(keyBy: number): void {
    let w = Infinity;
    for (const p of this.stages.producers.get(keyBy) ?? []) {
      const passed = p === 'main' ? this.mainPassed : Math.min(...(this.passed.get(`${p}>${keyBy}`) ?? [-Infinity]));
      w = Math.min(w, passed);
    }
    if (w <= (this.sentWatermark.get(keyBy) ?? -Infinity)) return;
    this.sentWatermark.set(keyBy, w);
    this.reroutedSinceBarrier++; // a barrier must also wait for what this watermark fires
    this.broadcast({ t: 'watermark', node: keyBy, watermark: w });
  }

  /** Wall-clock housekeeping in every worker (processing-time timers). */
  tick(now: number): void {
    this.broadcast({ t: 'tick', now });
  }

  private broadcast(m: ToWorker): void {
    this.check();
    for (let i = 0; i < this.workers.length; i++) {
      this.inFlight[i]!++; // answered by an 'out'
      this.workers[i]!.postMessage(m);
    }
  }

  /** A table's rows from every worker (each holds its partitions' rows). */
  async query(table: string, key?: string): Promise<[string, unknown][]> {
    this.check();
    const id = ++this.nextQuery;
    const rows: [string, unknown][] = [];
    await new Promise<void>((done) => {
      this.queries.set(id, { left: this.workers.length, rows, done });
      for (const w of this.workers) w.postMessage({ t: 'query', id, table, key } satisfies ToWorker);
    });
    this.check();
    return rows;
  }

  /** Counter totals the workers reported at the last barrier. */
  counters(): Record<string, Record<string, number>> {
    return sumCounters(...this.workerCounters);
  }

  /** Resolves when every worker has room for more input (or throws a worker's failure). */
  async capacity(): Promise<void> {
    while (this.inFlight.some((x) => x > MAX_IN_FLIGHT)) {
      this.check();
      await new Promise<void>((r) => this.waiters.push(r));
    }
    this.check();
  }

  /** Resolves when every worker has processed everything sent to it, including re-routed events. */
  async barrier(): Promise<void> {
    await this.rounds(false);
  }

  /** A barrier that also collects the state each worker changed since the last snapshot. */
  snapshot(): Promise<StateChange[]> {
    return this.rounds(true);
  }

  /** Hands each worker the saved state of the partitions it owns. */
  restore(states: StateChange[]): void {
    const n = this.workers.length;
    const parts: StateChange[][] = Array.from({ length: n }, () => []);
    for (const c of states) parts[c.partition % n]!.push(c);
    parts.forEach((p, i) => this.workers[i]!.postMessage({ t: 'restore', states: p } satisfies ToWorker));
  }

  private async rounds(snapshot: boolean): Promise<StateChange[]> {
    const states: StateChange[] = [];
    do {
      this.reroutedSinceBarrier = 0;
      const id = ++this.nextBarrier;
      await new Promise<void>((done) => {
        this.barriers.set(id, { left: this.workers.length, done, states });
        for (const w of this.workers) w.postMessage({ t: 'barrier', id, snapshot } satisfies ToWorker);
      });
      this.check();
    } while (this.reroutedSinceBarrier > 0);
    return states;
  }

  private handle(i: number, m: FromWorker): void {
    switch (m.t) {
      case 'out':
        this.inFlight[i]!--;
        this.onOutputs({ outputs: m.outputs.map(([id, packed]) => [id, unpackRecords(packed)]), dead: m.dead, recordsOut: m.recordsOut });
        for (const w of this.waiters.splice(0)) w();
        return;
      case 'query': {
        const q = this.queries.get(m.id);
        if (!q) return;
        q.rows.push(...m.rows);
        if (--q.left === 0) {
          this.queries.delete(m.id);
          q.done();
        }
        return;
      }
      case 'passed': {
        const key = `${m.from}>${m.to}`;
        let list = this.passed.get(key);
        if (!list) this.passed.set(key, (list = new Array<number>(this.workers.length).fill(-Infinity)));
        list[i] = m.watermark;
        this.forwardWatermark(m.to);
        return;
      }
      case 'keyed':
        this.reroutedSinceBarrier++;
        this.route(m.node, fromColumns(m.events));
        return;
      case 'barrier': {
        const b = this.barriers.get(m.id);
        if (b) b.states.push(...m.states);
        this.workerCounters[i] = m.counters;
        if (b && --b.left === 0) {
          this.barriers.delete(m.id);
          b.done();
        }
        return;
      }
      case 'error':
        this.fail(m.message, m.code, m.details);
        return;
      case 'ready':
        return;
    }
  }

  private fail(message: string, code?: string, details?: Record<string, unknown>): SluiceError {
    this.failure ??= new SluiceError((code as ErrorCode | undefined) ?? ErrorCodes.USER_FUNCTION_FAILED, message, details ?? {});
    // Wake everyone waiting so the job sees the failure.
    for (const w of this.waiters.splice(0)) w();
    for (const b of this.barriers.values()) b.done();
    this.barriers.clear();
    for (const q of this.queries.values()) q.done();
    this.queries.clear();
    return this.failure;
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
