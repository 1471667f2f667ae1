// Change tracking inside a plain-object state: a Proxy over the state and,
// lazily, over each nested object reached through it, records the path of
// every set and delete, so that a checkpoint saves the changed entries of a
// big state (a global ledger of a million accounts) instead of all of it.
//
// Paths go through plain objects only: an array is a unit, and any change
// inside one (to an element, or inside an object that is an element) marks the
// whole array. The marks form a trie, so that a mark under an already marked
// path costs nothing and the checkpoint writes only the outermost marked
// paths (a record at a path replaces that path's whole subtree on restore).
//
// The state itself stays a plain object: the checkpoint reads and serialises
// the raw objects, never through the proxies; values assigned through a proxy
// are stored unwrapped, so the raw state holds no proxy of its own.
//
// Why proxies and not a diff at each checkpoint: a diff costs a walk of the
// whole state per checkpoint (what this replaces); a proxy costs a trap per
// access, paid only by states big enough to be tracked (see keyed-state.ts,
// TRACK_ABOVE_BYTES) — small per-key states stay plain objects.

/** Proxy → the raw object behind it, for every proxy of every tracker. */
const raws = new WeakMap<object, object>();

/** The raw object behind a state proxy; anything else as it is. */
export function unwrap<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  return (raws.get(v) as T | undefined) ?? v;
}

/** One node of the trie of marks: `whole` when the entry at this path changed (its subtree is saved whole). */
interface Mark {
  whole: boolean;
  kids: Map<string, Mark> | null;
}

function step(n: Mark, k: string): Mark {
  const kids = (n.kids ??= new Map());
  let c = kids.get(k);
  if (c === undefined) kids.set(k, (c = { whole: false, kids: null }));
  return c;
}

/**
 * A changed entry: its path from the state's root, and its JSON ('' when the
 * entry no longer exists). With `part`: one part of an object saved whole in
 * several records (splitWhole), `json` holding some of its entries to merge
 * into the object at `path`.
 */
export interface ChangedEntry {
  path: string[];
  json: string;
  part?: number;
}

class Handler implements ProxyHandler<Record<string | symbol, unknown>> {
  readonly tracker: Tracker;
  /** The path a change here marks: this object's own path, or (unit) the path of the outermost array holding it. */
  readonly path: string[];
  /** Inside an array (or an array itself): every change marks `path` itself. */
  readonly unit: boolean;
  /** Where this proxy was reached from: a proxy is reused only for the same route (an object stored twice gets one per place). */
  readonly parent: object | null;
  readonly prop: string;

  constructor(tracker: Tracker, path: string[], unit: boolean, parent: object | null, prop: string) {
    this.tracker = tracker;
    this.path = path;
    this.unit = unit;
    this.parent = parent;
    this.prop = prop;
  }

  get(target: Record<string | symbol, unknown>, prop: string | symbol): unknown {
    const v = target[prop];
    if (typeof v !== 'object' || v === null || typeof prop === 'symbol') return v;
    // `__proto__` is an own entry only if JSON.parse made it one; the inherited one is the prototype.
    if (prop === '__proto__' && !Object.hasOwn(target, prop)) return v;
    return this.tracker.child(v, target, prop, this);
  }

  set(target: Record<string | symbol, unknown>, prop: string | symbol, value: unknown): boolean {
    target[prop] = unwrap(value);
    if (typeof prop === 'string') this.mark(prop);
    return true;
  }

  deleteProperty(target: Record<string | symbol, unknown>, prop: string | symbol): boolean {
    const done = delete target[prop];
    if (typeof prop === 'string') this.mark(prop);
    return done;
  }

  defineProperty(target: Record<string | symbol, unknown>, prop: string | symbol, desc: PropertyDescriptor): boolean {
    const done = Reflect.defineProperty(target, prop, 'value' in desc ? { ...desc, value: unwrap(desc.value) } : desc);
    if (typeof prop === 'string') this.mark(prop);
    return done;
  }

  private mark(prop: string): void {
    this.tracker.mark(this.path, this.unit ? null : prop);
  }
}

export class Tracker {
  readonly raw: object;
  readonly proxy: object;
  /**
   * The log holds no root record of this key's current life (it was just
   * created): the next save writes it whole, and path records follow only then.
   */
  needsRoot: boolean;
  /** Bytes of the last whole save: a checkpoint whose changed entries would take more writes the key whole again. */
  rootBytes = 0;
  private marks: Mark = { whole: false, kids: null };
  private marked = false;
  private readonly proxies = new WeakMap<object, { proxy: object; handler: Handler }>();
  private readonly onFirstMark: () => void;

  /** `onFirstMark`: called at the first change after each take(), so the key is visited at the next checkpoint. */
  constructor(raw: object, needsRoot: boolean, onFirstMark: () => void) {
    this.raw = raw;
    this.needsRoot = needsRoot;
    this.onFirstMark = onFirstMark;
    const unit = Array.isArray(raw);
    const handler = new Handler(this, [], unit, null, '');
    this.proxy = new Proxy(raw as Record<string, unknown>, handler);
    raws.set(this.proxy, raw);
  }

  /** The proxy for `v`, reached as `parent[prop]` through the proxy `from`. */
  child(v: object, parent: object, prop: string, from: Handler): object {
    const known = this.proxies.get(v);
    if (known !== undefined && known.handler.parent === parent && (from.unit || known.handler.prop === prop)) return known.proxy;
    const unit = from.unit || Array.isArray(v);
    const handler = new Handler(this, from.unit ? from.path : [...from.path, prop], unit, parent, prop);
    const proxy = new Proxy(v as Record<string, unknown>, handler);
    raws.set(proxy, v);
    this.proxies.set(v, { proxy, handler });
    return proxy;
  }

  /** Marks the entry at `path` (+ `last`) changed; a path under a marked one adds nothing. */
  mark(path: readonly string[], last: string | null): void {
    if (!this.marked) {
      this.marked = true;
      this.onFirstMark();
    }
    let n = this.marks;
    if (n.whole) return;
    for (let i = 0; i < path.length; i++) {
      n = step(n, path[i]!);
      if (n.whole) return;
    }
    if (last !== null) n = step(n, last);
    n.whole = true;
    n.kids = null;
  }

  /** Whether the root itself changed (a state that is an array): nothing less than the whole is worth saving. */
  get rootChanged(): boolean {
    return this.marks.whole;
  }

  /** The outermost changed paths since the last take(), and forgets them. */
  takePaths(): string[][] {
    const out: string[][] = [];
    const walk = (n: Mark, path: string[]): void => {
      if (n.whole) out.push(path);
      else if (n.kids) for (const [k, c] of n.kids) walk(c, [...path, k]);
    };
    walk(this.marks, []);
    this.clear();
    return out;
  }

  clear(): void {
    this.marks = { whole: false, kids: null };
    this.marked = false;
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON.stringify, or null for a value whose JSON is longer than a string can be. */
export function stringify(v: unknown): string | null {
  try {
    return JSON.stringify(v);
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  }
}

/**
 * A plain object too big for one record (over `limit` characters of JSON),
 * saved whole as parts: records of up to about `limit` characters, each
 * holding some of its entries. An entry that is itself too big and a plain
 * object is an empty object in its part, then parts of its own (after, so
 * that a restore creates it first). An entry too big that is not a plain
 * object (an array, a string) is an entry of its own: the log refuses it if it
 * exceeds a record's limit, and `tooBig` is called for one a string cannot hold.
 */
export function splitWhole(v: Record<string, unknown>, path: string[], limit: number, tooBig: (path: string[]) => never, out: ChangedEntry[] = []): ChangedEntry[] {
  const deeper: string[] = [];
  let part: string[] = [];
  let chars = 0;
  const flush = () => {
    out.push({ path, part: out.length, json: `{${part.join(',')}}` });
    part = [];
    chars = 0;
  };
  for (const k of Object.keys(v)) {
    const c = v[k];
    if (c === undefined) continue;
    let json = stringify(c);
    if ((json === null || json.length > limit) && isPlainObject(c)) {
      deeper.push(k);
      json = '{}';
    }
    if (json === null) tooBig([...path, k]);
    // Too big for a part (an array, a string): a record of its own, which names it if the log refuses it.
    if (json.length > limit) {
      out.push({ path: [...path, k], json });
      continue;
    }
    const item = `${JSON.stringify(k)}:${json}`;
    if (part.length > 0 && chars + item.length > limit) flush();
    part.push(item);
    chars += item.length + 1;
  }
  if (part.length > 0) flush();
  for (const k of deeper) splitWhole(v[k] as Record<string, unknown>, [...path, k], limit, tooBig, out);
  return out;
}

/** Restore: merges the entries of a part (splitWhole) into the object at `path`; skipped as applyEntry skips. */
export function applyPart(root: Record<string, unknown>, path: readonly unknown[], part: Record<string, unknown>): void {
  const obj = entryAt(root, path.map(String));
  if (!isPlainObject(obj)) return;
  for (const k of Object.keys(part)) applyEntry(obj, [k], part[k]);
}

/** The raw entry at `path` in `root`, or undefined when there is none (a missing or non-object step on the way). */
export function entryAt(root: unknown, path: readonly string[]): unknown {
  let cur = root;
  for (const k of path) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.hasOwn(cur, k)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/**
 * Restore: puts `value` at `path` inside `root` (undefined: deletes it),
 * replacing its subtree. A path whose parent is missing or not a plain object
 * is skipped: its record was written on top of an ancestor's record that a
 * newer one (later in the log, also applied) replaced.
 */
export function applyEntry(root: Record<string, unknown>, path: readonly unknown[], value: unknown): void {
  let cur: unknown = root;
  for (let i = 0; i < path.length - 1; i++) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return;
    const k = String(path[i]);
    if (!Object.hasOwn(cur, k)) return;
    cur = (cur as Record<string, unknown>)[k];
  }
  if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return;
  const obj = cur as Record<string, unknown>;
  const last = String(path[path.length - 1]);
  if (value === undefined) delete obj[last];
  // An own "__proto__" (as JSON.parse makes it), not the prototype.
  else if (last === '__proto__') Object.defineProperty(obj, last, { value, writable: true, enumerable: true, configurable: true });
  else obj[last] = value;
}
