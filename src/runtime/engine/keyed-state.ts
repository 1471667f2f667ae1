// Keyed state of one stateful operator: a plain object per key, in one map per
// state partition. The runtime snapshots state (exactly-once checkpoints), so a
// state must survive JSON: it is checked when a key's state is created, and a
// state that is not JSON-compatible fails loudly, naming the path, unless the
// operator declared a StateCodec.

import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { ProcessNode } from '../../dataflow/graph.ts';

/** A key's state and pending timers as they changed since the last checkpoint: one changelog record. */
export interface StateChange {
  operator: string;
  partition: number;
  key: string;
  /** The key's state as JSON; '' when it has none. */
  state: string;
  /** The key's pending timers as JSON ({ e: [...], p: [...] }); '' when it has none. */
  timers: string;
}

export class KeyedState {
  readonly node: ProcessNode;
  readonly partitions: Map<string, unknown>[];
  /** Keys whose state may have changed since the last snapshot, per partition. */
  readonly dirty: Set<string>[];

  constructor(node: ProcessNode) {
    this.node = node;
    this.partitions = Array.from({ length: node.partitions }, () => new Map());
    this.dirty = Array.from({ length: node.partitions }, () => new Set());
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
    this.created = s === undefined;
    if (s === undefined) {
      s = this.node.init(key);
      if (!this.node.stateCodec) this.checkJson(s, key);
      map.set(key, s);
    }
    return s;
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
    if (this.partitions[partition]!.delete(key) && !fresh) this.dirty[partition]!.add(key);
  }

  /** One key's current state as saved by a snapshot: JSON text, '' when it has none. */
  json(partition: number, key: string): string {
    const s = this.partitions[partition]!.get(key);
    if (s === undefined) return '';
    const codec = this.node.stateCodec;
    const v = codec ? codec.toJSON(s) : s;
    // Checked at every snapshot, not only at creation: state mutated into a Map or a class
    // instance since would otherwise be saved as {} and come back wrong after a restart.
    this.checkJson(v, key);
    return JSON.stringify(v);
  }

  /** assertJsonCompatible, with the message built only for a failure: this runs for every new or changed key. */
  private checkJson(value: unknown, key: string): void {
    if (!isPlainJson(value, 64)) explainNotJson(value, `state of ${this.node.name} for key ${JSON.stringify(key)}`);
  }

  /** Number of keys with state: for tests that state stays bounded. */
  get size(): number {
    return this.partitions.reduce((n, m) => n + m.size, 0);
  }

  /** Every key's state, for inspection. */
  entries(): [string, unknown][] {
    return this.partitions.flatMap((m) => [...m.entries()]);
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
    this.partitions[partition]!.set(key, this.node.stateCodec ? this.node.stateCodec.fromJSON(v) : v);
  }

  lookup(key: string): unknown {
    for (const m of this.partitions) if (m.has(key)) return m.get(key);
    return undefined;
  }
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
