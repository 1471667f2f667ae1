// Keyed state of one stateful operator: a plain object per key, in one map per
// state partition. The runtime snapshots state (exactly-once checkpoints), so a
// state must survive JSON: it is checked when a key's state is created, and a
// state that is not JSON-compatible fails loudly, naming the path, unless the
// operator declared a StateCodec.
//
// A key's state is saved whole (one root record) while it is small. Once its
// saved JSON exceeds stateLimits.trackAboveBytes, or from the start for a
// global state, it is tracked (state-tracking.ts): the operator's function
// gets a proxy of it, and a checkpoint saves only the entries that changed
// (path records, see state-changelog.ts). A state with a StateCodec is always saved whole: the
// codec sees the whole state.

import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { ProcessNode } from '../../dataflow/graph.ts';
import { entryAt, splitWhole, stringify, Tracker, unwrap, type ChangedEntry } from './state-tracking.ts';

export const stateLimits = {
  /**
   * Saved JSON size above which a key's state is tracked. Below it, saving
   * the whole state costs little (word count's counters); above it the whole
   * save costs more than the proxy's traps unless the key changes tens of
   * times per checkpoint (docs/BENCHMARKS.md, "After tracked state").
   */
  trackAboveBytes: 4096,
  /** JSON characters above which a tracked state saved whole is split into parts (a record holds at most 64 MiB). */
  splitAboveChars: 8 * 1024 * 1024,
};

/** A key's state and pending timers as they changed since the last checkpoint: one changelog record, or its changed entries. */
export interface StateChange {
  operator: string;
  partition: number;
  key: string;
  /** The key's state as JSON; '' when it has none. */
  state: string;
  /** The key's pending timers as JSON ({ e: [...], p: [...] }); '' when it has none. */
  timers: string;
  /**
   * Set for a tracked key: the entries written after its root record — the
   * entries that changed, when the root record is already in the changelog
   * (state and timers are then '' and no root record is written), or the parts
   * of a state too big for one record, after a root record holding {}. Paths
   * are relative to the root record's value: ["s", ...] inside the state,
   * ["t"] the timers; json '' means the entry was deleted.
   */
  entries?: ChangedEntry[];
}

/**
 * Where the state of an operator kept on disk lives (runtime/disk-state.ts):
 * this map is then a cache of plain objects, and a key it does not hold is
 * read from the store as of the last committed checkpoint.
 */
export interface KeyStore {
  /** The key's saved state as JSON (what json() gave), undefined when it has none. */
  get(partition: number, key: string): string | undefined;
}

export class KeyedState {
  readonly node: ProcessNode;
  /** Per partition, each key's state: the plain object, or for a tracked key its proxy. */
  readonly partitions: Map<string, unknown>[];
  /** Keys whose state may have changed since the last snapshot, per partition. */
  readonly dirty: Set<string>[];
  /** Per partition, the tracked keys. */
  private readonly tracked: Map<string, Tracker>[];

  /** Set for an operator kept on disk: keys are read from it and saved whole (never tracked). */
  store: KeyStore | null = null;
  /** Per partition, keys deleted since their state was last written to the store: not to be read from it. */
  private readonly deleted: Set<string>[];

  constructor(node: ProcessNode) {
    this.deleted = Array.from({ length: node.partitions }, () => new Set());
    this.node = node;
    this.partitions = Array.from({ length: node.partitions }, () => new Map());
    this.dirty = Array.from({ length: node.partitions }, () => new Set());
    this.tracked = Array.from({ length: node.partitions }, () => new Map());
  }

  /** Whether the last get() created the state (from the operator's initializer). */
  created = false;

  /**
   * The state for `key`, created with the operator's initializer on first use.
   * Not marked changed: the operator marks it after the call that got it,
   * unless that call declared it unchanged (a read, such as a join's lookup,
   * must not make every checkpoint save the key again).
   */
  get(partition: number, key: string): unknown {
    const map = this.partitions[partition]!;
    let s = map.get(key);
    if (this.store !== null) {
      if (s !== undefined) {
        // Most recently used last: eviction drops from the front.
        map.delete(key);
        map.set(key, s);
      } else s = this.load(partition, key);
    }
    this.created = s === undefined;
    if (s === undefined) {
      s = this.node.init(key);
      if (!this.node.stateCodec) this.checkJson(s, key);
      // A global state is one key holding everything: tracked from its first save on.
      if (this.node.global && !this.node.stateCodec && typeof s === 'object' && s !== null) s = this.track(partition, key, s, true);
      map.set(key, s);
    }
    return s;
  }

  private load(partition: number, key: string): unknown {
    if (this.deleted[partition]!.has(key)) return undefined;
    const json = this.store!.get(partition, key);
    if (json === undefined) return undefined;
    const v = JSON.parse(json) as unknown;
    const s = this.node.stateCodec ? this.node.stateCodec.fromJSON(v) : v;
    this.partitions[partition]!.set(key, s);
    return s;
  }

  /**
   * After the store holds what a checkpoint saved (`written`, per partition):
   * deleted keys may be read from it again, and keys not changed since are
   * dropped from the cache, least recently used first, until at most
   * `maxKeys` keys remain in memory.
   */
  written(written: readonly (readonly string[])[], maxKeys: number): void {
    for (let p = 0; p < this.partitions.length; p++) {
      const deleted = this.deleted[p]!;
      if (deleted.size > 0) for (const key of written[p] ?? []) if (!this.dirty[p]!.has(key) || this.partitions[p]!.has(key)) deleted.delete(key);
    }
    let excess = this.size - maxKeys;
    for (let p = 0; p < this.partitions.length && excess > 0; p++) {
      // Each partition gives up its share of the excess.
      const map = this.partitions[p]!;
      let quota = Math.ceil((excess * map.size) / Math.max(1, this.size));
      const dirty = this.dirty[p]!;
      for (const key of map.keys()) {
        if (quota <= 0) break;
        if (dirty.has(key)) continue;
        map.delete(key);
        quota--;
        excess--;
      }
    }
  }

  private track(partition: number, key: string, raw: object, needsRoot: boolean): object {
    const dirty = this.dirty[partition]!;
    const t = new Tracker(raw, needsRoot, () => dirty.add(key));
    this.tracked[partition]!.set(key, t);
    return t.proxy;
  }

  /** The next snapshot saves this key's state. */
  changed(partition: number, key: string): void {
    this.dirty[partition]!.add(key);
  }

  /**
   * Forgets a key's state (its next get() starts from init); the next
   * snapshot records the deletion — unless `fresh`: the state was created by
   * the call deleting it, so nothing of it was saved since the last deletion.
   */
  delete(partition: number, key: string, fresh = false): void {
    this.tracked[partition]!.delete(key);
    if (this.partitions[partition]!.delete(key) && !fresh) {
      this.dirty[partition]!.add(key);
      if (this.store !== null) this.deleted[partition]!.add(key);
    }
  }

  /**
   * What a checkpoint saves of a key: its whole state and `timers` as one
   * record, or, for a tracked key with a root record saved, its changed
   * entries (null when nothing changed). `timersChanged`: whether its timers
   * changed since the last checkpoint.
   */
  change(operator: string, partition: number, key: string, timers: string, timersChanged: boolean): StateChange | null {
    const t = this.tracked[partition]!.get(key);
    if (t === undefined) {
      const state = this.json(partition, key);
      const raw = this.partitions[partition]!.get(key);
      if (state.length <= stateLimits.trackAboveBytes || this.node.stateCodec || this.store !== null || typeof raw !== 'object' || raw === null) return { operator, partition, key, state, timers };
      // Big enough to be worth tracking: from now on its changes are saved as entries on top of this record.
      this.partitions[partition]!.set(key, this.track(partition, key, raw, false));
      return this.whole(this.tracked[partition]!.get(key)!, operator, partition, key, timers, state);
    }
    if (t.needsRoot || t.rootChanged) return this.whole(t, operator, partition, key, timers);
    const entries: ChangedEntry[] = [];
    let bytes = 0;
    for (const path of t.takePaths()) {
      const v = entryAt(t.raw, path);
      let json = '';
      if (v !== undefined) {
        this.checkJson(v, key, path);
        json = JSON.stringify(v);
      }
      // Each entry's record also carries its path and the key: counted as written.
      bytes += json.length + operator.length + key.length + 40 + path.reduce((n, k) => n + k.length + 3, 0);
      entries.push({ path: ['s', ...path], json });
    }
    if (timersChanged) entries.push({ path: ['t'], json: timers });
    if (entries.length === 0) return null;
    // As many bytes as the whole: the whole is as cheap to write, and makes the entries' older records dead.
    if (bytes >= t.rootBytes && t.rootBytes <= stateLimits.splitAboveChars) return this.whole(t, operator, partition, key, timers);
    return { operator, partition, key, state: '', timers: '', entries };
  }

  /**
   * A tracked key saved whole: one root record, or for a state too big for
   * one record, a root record holding {} and the state's entries in parts.
   */
  private whole(t: Tracker, operator: string, partition: number, key: string, timers: string, known?: string): StateChange {
    t.needsRoot = false;
    t.clear();
    if (known === undefined) this.checkJson(t.raw, key);
    const state = known ?? stringify(t.raw);
    if ((state !== null && state.length <= stateLimits.splitAboveChars) || Array.isArray(t.raw)) {
      if (state === null) this.tooBig(key, []);
      t.rootBytes = state.length;
      return { operator, partition, key, state, timers };
    }
    const parts = splitWhole(t.raw as Record<string, unknown>, [], stateLimits.splitAboveChars, (path) => this.tooBig(key, path));
    t.rootBytes = parts.reduce((n, e) => n + e.json.length, 0);
    return { operator, partition, key, state: '{}', timers, entries: parts.map((e) => ({ ...e, path: ['s', ...e.path] })) };
  }

  private tooBig(key: string, path: string[]): never {
    throw new SluiceError(
      ErrorCodes.TOO_LARGE,
      `state of ${this.node.name} for key ${JSON.stringify(key)} cannot be saved: the entry at ${pathText(path)} is too big to serialise as one string; split it into smaller entries of plain objects`,
      { operator: this.node.name, key, path },
    );
  }

  /** One key's current state as saved by a snapshot: JSON text, '' when it has none. */
  json(partition: number, key: string): string {
    const s = unwrap(this.partitions[partition]!.get(key));
    if (s === undefined) return '';
    const codec = this.node.stateCodec;
    const v = codec ? codec.toJSON(s) : s;
    // Checked at every snapshot, not only at creation: state mutated into a Map or a class
    // instance since would otherwise be saved as {} and come back wrong after a restart.
    this.checkJson(v, key);
    return JSON.stringify(v);
  }

  /** assertJsonCompatible, with the message built only for a failure: this runs for every new or changed key. */
  private checkJson(value: unknown, key: string, path?: readonly string[]): void {
    if (!isPlainJson(value, 64)) explainNotJson(value, `state of ${this.node.name} for key ${JSON.stringify(key)}`, path ? pathText(path) : '$');
  }

  /** Number of keys with state: for tests that state stays bounded. */
  get size(): number {
    return this.partitions.reduce((n, m) => n + m.size, 0);
  }

  /** Every key's state, for inspection. */
  entries(): [string, unknown][] {
    if (this.store !== null) {
      throw new SluiceError(
        ErrorCodes.INVALID_ARGUMENT,
        `the state of ${this.node.name} is kept on disk: it cannot be listed whole while the job runs; look up single keys (lookup, GET /tables/NAME/KEY), or run the job with --state-backend memory`,
      );
    }
    return this.partitions.flatMap((m) => [...m.entries()].map(([k, v]): [string, unknown] => [k, unwrap(v)]));
  }

  /** Puts back a state saved by json() (recovery). */
  restore(partition: number, key: string, json: string): void {
    if (partition < 0 || partition >= this.partitions.length) {
      throw new SluiceError(
        ErrorCodes.INVALID_ARGUMENT,
        `saved state of ${this.node.name} is in partition ${partition}, but the operator now has ${this.partitions.length} partitions; the number of state partitions is fixed for a job's life (start a new job name to change it)`,
      );
    }
    const v = JSON.parse(json) as unknown;
    const codec = this.node.stateCodec;
    this.tracked[partition]!.delete(key);
    if (codec) this.partitions[partition]!.set(key, codec.fromJSON(v));
    else if (this.store === null && (this.node.global || json.length > stateLimits.trackAboveBytes) && typeof v === 'object' && v !== null) {
      // The changelog holds this state's root record: what changes from now on is saved as entries on top of it.
      this.partitions[partition]!.set(key, this.track(partition, key, v, false));
      this.tracked[partition]!.get(key)!.rootBytes = json.length;
    } else this.partitions[partition]!.set(key, v);
    // Kept on disk: the store does not hold it yet (an older changelog's record), so it must not be evicted unsaved.
    if (this.store !== null) this.dirty[partition]!.add(key);
  }

  lookup(key: string): unknown {
    for (const m of this.partitions) if (m.has(key)) return unwrap(m.get(key));
    if (this.store !== null) {
      for (let p = 0; p < this.partitions.length; p++) {
        if (this.deleted[p]!.has(key)) continue;
        const json = this.store.get(p, key);
        if (json !== undefined) return JSON.parse(json) as unknown;
      }
    }
    return undefined;
  }
}

/** `$.a.b` for a path of plain names, `$["a b"]` for others. */
function pathText(path: readonly string[]): string {
  return '$' + path.map((k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`)).join('');
}

/**
 * Whether JSON round-trips `value`: plain objects, arrays, strings, finite
 * numbers, booleans, null. A loop without closures or allocation: it runs for
 * every changed key at every checkpoint. (Cycles make it recurse until
 * `depth` runs out, then the thorough check below names them.)
 */
function isPlainJson(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object': {
      if (v === null) return true;
      if (depth === 0) return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!isPlainJson(v[i], depth - 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      for (const k in v) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined && !isPlainJson(x, depth - 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** Throws INVALID_ARGUMENT naming the first part of `value` that JSON would not round-trip. */
export function assertJsonCompatible(value: unknown, what: string): void {
  if (!isPlainJson(value, 64)) explainNotJson(value, what);
}

function explainNotJson(value: unknown, what: string, path = '$', seen = new Set<object>()): void {
  const fail = (why: string): never => {
    throw new SluiceError(
      ErrorCodes.INVALID_ARGUMENT,
      `${what} is not JSON-compatible at ${path}: ${why}. Keep state to plain objects, arrays, strings, finite numbers, booleans and null, or declare a stateCodec (toJSON/fromJSON) for the operator.`,
    );
  };
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(`${value} is not a finite number`);
      return;
    case 'object':
      break;
    default:
      fail(`a ${typeof value}`);
  }
  if (value === null) return;
  const obj = value as object;
  if (seen.has(obj)) fail('a cycle');
  seen.add(obj);
  if (Array.isArray(obj)) {
    obj.forEach((v, i) => explainNotJson(v, what, `${path}[${i}]`, seen));
  } else {
    const proto = Object.getPrototypeOf(obj) as unknown;
    if (proto !== Object.prototype && proto !== null) fail(`an instance of ${(obj.constructor as { name?: string } | undefined)?.name ?? 'a class'}`);
    for (const [k, v] of Object.entries(obj)) {
      if (v !== undefined) explainNotJson(v, what, `${path}.${k}`, seen);
    }
  }
  seen.delete(obj);
}
