// The on-disk keyed state backend as the checkpointer sees it: which operators
// keep their keyed state on disk (`stateBackend: 'disk'` on the operator, or
// every keyed operator of a job run with `--state-backend disk`), their store
// (disk-state.ts), and the three moments it follows: the start (the store is
// brought to the committed checkpoint, disk-restore.ts), each checkpoint taken
// (the changes it saves, remembered) and each checkpoint committed (they are
// written to the store, then keys not changed since leave memory down to the
// cache size). A global state stays in memory: it is one key.

import type { Application } from '../dataflow/application.ts';
import type { Guarantee } from '../dataflow/io.ts';
import type { ProcessNode } from '../dataflow/graph.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Log } from '../log/log.ts';
import type { Engine } from './engine/engine.ts';
import type { StateChange } from './engine/keyed-state.ts';
import { DiskState, type StoreWrite } from './disk-state.ts';
import { restoreOnDisk } from './disk-restore.ts';
import { changelogTopic } from './state-changelog.ts';

export interface StateBackendOptions {
  /** 'disk': every keyed operator's state on disk; 'memory' (default): only operators that ask for it. */
  backend?: 'memory' | 'disk';
  /** Where the job's store lives: `<stateDir>/<job>/`. Required when an operator is kept on disk. */
  stateDir?: string;
  /** Memory for the plain objects of keys kept on disk, all operators together (an estimate, see docs/state-on-disk.md). Default 256 MiB. */
  cacheBytes?: number;
  /** Where the store's warnings go (rebuilds); default stderr. */
  warn?: (message: string) => void;
}

export const DEFAULT_STATE_CACHE_BYTES = 256 * 1024 * 1024;

/** Memory per cached key beyond its JSON and key text (twice: UTF-16): the map entry, the object, its properties. */
const KEY_OVERHEAD_BYTES = 200;

export class StateOnDisk {
  private readonly engine: Engine;
  private readonly o: StateBackendOptions;
  /** The operators kept on disk, by name. */
  readonly operators: ReadonlySet<string>;
  private readonly prefixes: string[];
  private store: DiskState | null = null;
  private topicId = '';
  /** What the checkpoint being committed saved of the operators on disk. */
  private writes: StoreWrite[] = [];
  private keys = new Map<string, string[][]>();
  /** Running sums of JSON and key characters written, for the cache's estimate of bytes per key. */
  private chars = 0;
  private counted = 0;

  private constructor(engine: Engine, o: StateBackendOptions, operators: Set<string>) {
    this.engine = engine;
    this.o = o;
    this.operators = operators;
    this.prefixes = [...operators].flatMap((op) => ['key', 'path', 'part'].map((k) => `[${JSON.stringify(k)},${JSON.stringify(op)},`));
  }

  /** The operators of `app` kept on disk; null when there are none. */
  static of(app: Application, engine: Engine, o: StateBackendOptions | undefined, guarantee: Guarantee): StateOnDisk | null {
    const nodes = app.nodes().filter((n): n is ProcessNode => n.kind === 'process' && !n.global && (n.stateBackend ?? o?.backend) === 'disk');
    if (nodes.length === 0) return null;
    const names = nodes.map((n) => n.name).join(', ');
    if (guarantee === 'none') {
      throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `job ${app.name} keeps the state of ${names} on disk, which needs a changelog: run it with --guarantee exactly-once or at-least-once, or with --state-backend memory`);
    }
    if (!o?.stateDir) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `job ${app.name} keeps the state of ${names} on disk: give it a state dir (stateDir, or sluice run --state-dir)`);
    return new StateOnDisk(engine, o, new Set(nodes.map((n) => n.name)));
  }

  /** Skips, while the changelog is read into memory, the records of operators kept on disk: the store has them. */
  readonly skip = (k: string): boolean => {
    for (const p of this.prefixes) if (k.startsWith(p)) return true;
    return false;
  };

  /** At start, before the changelog is read: opens the store and hands it to the operators. */
  async open(job: string, workers: boolean): Promise<void> {
    if (workers) {
      throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `job ${job} keeps the state of ${[...this.operators].join(', ')} on disk, which runs on the main thread only for now: run it with --workers 1`);
    }
    const warn = this.o.warn ?? ((m: string) => process.stderr.write(`sluice: ${m}\n`));
    const store = await DiskState.open(this.o.stateDir!, job, warn);
    this.store = store;
    for (const name of this.operators) {
      this.engine.operatorNamed(name)!.state.store = { get: (partition, key) => store.get('s', name, partition, key) };
    }
  }

  /** After the changelog's other records are restored: the store brought to its committed end, and its timers. */
  async restore(log: Log, job: string): Promise<void> {
    await restoreOnDisk(log, job, this.store!, this.operators, this.engine);
    this.topicId = (await log.getTopic(changelogTopic(job))).id;
  }

  /** A checkpoint took these changes: remembered until it is committed. */
  taken(changes: readonly StateChange[]): void {
    this.writes = DiskState.writesOf(changes, this.operators);
    this.keys = new Map();
    for (const c of changes) {
      if (!this.operators.has(c.operator)) continue;
      let perPartition = this.keys.get(c.operator);
      if (!perPartition) this.keys.set(c.operator, (perPartition = []));
      (perPartition[c.partition] ??= []).push(c.key);
      this.chars += c.state.length + c.key.length;
      this.counted++;
    }
  }

  /** The checkpoint is durable: its changes go to the store, then memory is cut down to the cache size. */
  async committed(log: Log, job: string): Promise<void> {
    const store = this.store;
    if (!store) return;
    const writes = this.writes;
    const keys = this.keys;
    this.writes = [];
    this.keys = new Map();
    const { endOffset } = (await log.endOffsets(changelogTopic(job)))[0]!;
    await store.write(writes, { topicId: this.topicId, offset: endOffset });
    const perKey = 2 * (this.counted === 0 ? 64 : this.chars / this.counted) + KEY_OVERHEAD_BYTES;
    const maxKeys = Math.floor((this.o.cacheBytes ?? DEFAULT_STATE_CACHE_BYTES) / perKey / this.operators.size);
    for (const name of this.operators) this.engine.operatorNamed(name)!.state.written(keys.get(name) ?? [], maxKeys);
  }

  async close(): Promise<void> {
    await this.store?.close();
    this.store = null;
  }
}
