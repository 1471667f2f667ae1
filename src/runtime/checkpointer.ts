// What a checkpoint does, per guarantee (see docs/exactly-once.md):
//
//   exactly-once   one transaction: the outputs held by topic sinks since the
//                  last checkpoint, the changed state (changelog records), and
//                  the sources' positions. Visible together or not at all.
//   at-least-once  flush the sinks, append the changed state, commit positions.
//   none           commit positions; no state is saved.
//
// Under exactly-once the job's sinks, its keyed state and its sources are the
// participants of the checkpoint loop exec uses too (checkpoint-loop.ts).
//
// And how a job starts: under exactly-once it registers its transactional
// producer (fencing any older instance of the job), then restores its state
// and its sources' resume state from the changelog.

import type { Guarantee, Sink, SourceCheckpoint } from '../dataflow/io.ts';
import type { Application } from '../dataflow/application.ts';
import type { SourceNode } from '../dataflow/graph.ts';
import type { Log, TransactionOffsets, TransactionWrite } from '../log/log.ts';
import { Producer } from '../log/producer.ts';
import { CheckpointLoop, type CheckpointParticipant } from './checkpoint-loop.ts';
import type { Engine } from './engine/engine.ts';
import { sumCounters } from './engine/counters.ts';
import { changelogWrite, ensureChangelog, legacyWrite, readChangelog } from './state-changelog.ts';
import type { StateChange } from './engine/keyed-state.ts';
import type { WorkerPool } from './workers/worker-pool.ts';
import { StateOnDisk, type StateBackendOptions } from './state-on-disk.ts';

export interface CheckpointerOptions {
  app: Application;
  log: Log;
  guarantee: Guarantee;
  engine: Engine;
  sinks: Sink[];
  sources: SourceNode[];
  pool: () => WorkerPool | null;
  /** The on-disk keyed state backend, for the operators it names (state-on-disk.ts). */
  disk?: StateBackendOptions;
}

export class Checkpointer {
  private readonly o: CheckpointerOptions;
  private readonly plain: Producer;
  /** Exactly-once: the transactions, each written while the job processes on. */
  private readonly loop: CheckpointLoop | null;
  /** Exactly-once: what the sinks, the keyed state and the sources each put into a checkpoint. */
  private readonly participants: CheckpointParticipant[];
  /** The operators whose keyed state is kept on disk; null when none is. */
  private readonly disk: StateOnDisk | null;

  constructor(o: CheckpointerOptions) {
    this.o = o;
    this.plain = new Producer(o.log);
    this.loop = o.guarantee === 'exactly-once' ? new CheckpointLoop(o.log, `sluice-job:${o.app.name}`) : null;
    this.disk = StateOnDisk.of(o.app, o.engine, o.disk, o.guarantee);
    this.participants = [this.sinksParticipant(), this.stateParticipant(), this.sourcesParticipant()];
  }

  /** Per source: the checkpoint of the last batch processed (or the one before the first batch). */
  private readonly processed = new Map<SourceNode, SourceCheckpoint>();

  /** The job processed `batch` from `node`: its position is now done. */
  processedBatch(node: SourceNode, checkpoint: SourceCheckpoint | undefined): void {
    if (checkpoint) this.processed.set(node, checkpoint);
  }

  private sourceCheckpoint(node: SourceNode): SourceCheckpoint | undefined {
    return this.processed.get(node) ?? node.source.checkpoint?.();
  }

  /**
   * Before the sources are opened (they read the committed offsets): fence
   * older instances of the job, so none commits after this instance has read
   * where to resume from.
   */
  async fence(): Promise<void> {
    const { guarantee } = this.o;
    if (guarantee === 'none') return;
    await this.loop?.fence();
  }

  /** After the sources are opened, before the first batch: state and sources' resume state. */
  async restore(): Promise<void> {
    const { log, app, guarantee } = this.o;
    if (guarantee === 'none') return;
    // Created only now: a run that fails to open a source (a taken port) leaves nothing behind.
    await ensureChangelog(log, app.name);
    const { disk } = this;
    if (disk) await disk.open(app.name, this.o.pool() !== null);
    const saved = await readChangelog(log, app.name, disk?.skip);
    const migrate = legacyWrite(app.name, saved);
    if (migrate.length > 0) {
      if (this.loop) await this.loop.commit({ writes: migrate, offsets: [] });
      else for (const w of migrate) await this.plain.send(w.topic, w.records.map((r) => ({ ...r, partition: 0 })));
    }
    const pool = this.o.pool();
    const { engine } = this.o;
    if (pool) pool.restore(saved.states);
    // An operator that no longer exists (the app changed) keeps its saved state untouched in the topic.
    else for (const c of saved.states) engine.restore(c);
    await disk?.restore(log, app.name);
    if (saved.time) {
      engine.clock.restore(saved.time.clock, Date.now());
      engine.restoreCounters(saved.time.counters);
    }
    for (const n of this.o.sources) if (saved.sources.has(n.name)) n.source.restore?.(saved.sources.get(n.name));
  }

  /** After start(), before the first next(): where each source resumes. */
  noteStartPositions(): void {
    for (const n of this.o.sources) {
      const c = n.source.checkpoint?.();
      if (c) this.processed.set(n, c);
    }
  }

  /** Sources with a batch fetched ahead but not processed, at the current checkpoint. */
  private unprocessed: ReadonlySet<SourceNode> = new Set();

  /**
   * Commits a source's progress outside a transaction. A source without batch
   * checkpoints acknowledges everything it delivered, so it is skipped while a
   * batch it delivered waits unprocessed (its acknowledgement waits a checkpoint).
   */
  private async commitSource(n: SourceNode): Promise<void> {
    const c = this.processed.get(n);
    if (c?.offsets) await this.o.log.commitOffsets(c.offsets.group, c.offsets.offsets);
    else if (!n.source.checkpoint && !this.unprocessed.has(n)) await n.source.commit();
  }

  /**
   * Everything processed so far becomes durable, per the guarantee. Under
   * exactly-once the checkpoint's contents are captured here, and its
   * transaction is written while the job goes on processing (pipelining); the
   * next checkpoint, or settle(), waits for it. A failed commit fails that wait.
   */
  async checkpoint(unprocessed: ReadonlySet<SourceNode> = new Set()): Promise<void> {
    await this.settle();
    this.unprocessed = unprocessed;
    const { guarantee, sinks, sources } = this.o;
    if (this.loop) return this.loop.take(this.participants);
    if (guarantee === 'none') {
      // Positions are committed without waiting for the outputs; the outputs are still pushed out.
      await Promise.all([...sinks.map((s) => s.flush()), ...sources.map((n) => this.commitSource(n))]);
      return;
    }
    const changelog = await this.changelogWrite();
    for (const s of sinks) await s.flush();
    for (const w of changelog) await this.plain.send(w.topic, w.records.map((r) => ({ ...r, partition: 0 })));
    await this.disk?.committed(this.o.log, this.o.app.name);
    for (const n of sources) await this.commitSource(n);
  }

  /** Waits for the transaction in flight, if any (and throws its failure). */
  async settle(): Promise<void> {
    await this.loop?.settle();
  }

  /** The outputs held by topic sinks; sinks outside transactions (files, sockets) are delivered first: at-least-once for them. */
  private sinksParticipant(): CheckpointParticipant {
    return {
      prepare: async () => {
        const writes: TransactionWrite[] = [];
        // this.o.sinks, read at each checkpoint: the dead-letter sink joins it at the first dead letter.
        for (const s of this.o.sinks) {
          if (s.takeTransactional) writes.push(...(await s.takeTransactional()));
          else await s.flush();
        }
        return { writes };
      },
    };
  }

  /** The keyed state that changed, the sources' resume state, the event clock and counters: the changelog records. */
  private stateParticipant(): CheckpointParticipant {
    return {
      prepare: async () => {
        const changelog = await this.changelogWrite();
        return { writes: changelog };
      },
      // The store follows the changelog only once the transaction is durable: it never holds uncommitted state.
      committed: async () => {
        await this.disk?.committed(this.o.log, this.o.app.name);
      },
    };
  }

  /**
   * The sources' offsets. Sources outside the log (e.g. HTTP) acknowledge
   * their senders only once the outputs are committed: then the checkpoint
   * waits for its commit.
   */
  private sourcesParticipant(): CheckpointParticipant {
    let outside: SourceNode[] = [];
    return {
      prepare: () => {
        const offsets: TransactionOffsets[] = [];
        outside = [];
        for (const n of this.o.sources) {
          const c = this.sourceCheckpoint(n);
          if (c?.offsets) offsets.push(c.offsets);
          else outside.push(n);
        }
        return { offsets };
      },
      committed: async () => {
        for (const n of outside) await this.commitSource(n);
      },
      get awaitsCommit() {
        return outside.length > 0;
      },
    };
  }

  private async changelogWrite(): Promise<TransactionWrite[]> {
    const { app, sources } = this.o;
    const states = await this.stateChanges();
    const sourceStates = sources.flatMap((n) => {
      const c = this.sourceCheckpoint(n);
      return c?.state === undefined ? [] : [{ name: n.name, state: c.state }];
    });
    const pool = this.o.pool();
    const counters = pool ? sumCounters(this.o.engine.counters(), pool.counters()) : this.o.engine.counters();
    return changelogWrite(app.name, states, sourceStates, { clock: this.o.engine.clock.snapshot(), counters });
  }

  private async stateChanges(): Promise<StateChange[]> {
    const out: StateChange[] = [];
    const pool = this.o.pool();
    if (pool) out.push(...(await pool.snapshot()));
    out.push(...this.o.engine.takeStateChanges());
    this.disk?.taken(out);
    return out;
  }

  /** Closes the on-disk store, if any (after the last checkpoint settled). */
  async close(): Promise<void> {
    await this.disk?.close();
  }
}
