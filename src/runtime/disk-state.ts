// The on-disk keyed state backend's store: a LevelDB directory (classic-level)
// per job, holding the state and timers of every key of the operators kept on
// disk, as of a committed checkpoint. The changelog stays the source of truth
// (exactly-once comes from its transaction); the store is written only after a
// checkpoint's transaction commits, and stamped in the same atomic batch with
// the changelog topic's id and end offset it reflects. So it never holds state
// that was not committed, and a restart can tell whether it is current, behind
// (apply the changelog after the stamp) or not to be trusted (rebuild):
// disk-restore.ts. The engine's KeyedState keeps a cache of plain objects and
// reads a key it does not hold through get() (synchronously: the operator is
// handed a plain object).
//
// Each value carries a CRC-32C of its JSON: LevelDB does not verify block
// checksums on reads by default, and damage must never be read as state.
// LevelDB's own LOCK file keeps a second process out of the directory.

import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { crc32c } from '../util/crc32c.ts';
import type { StateChange } from './engine/keyed-state.ts';

/** What the store reflects: the changelog topic's incarnation and the end offset after the checkpoint it holds. */
export interface StoreStamp {
  topicId: string;
  offset: number;
}

const STAMP = 'm';
/** Written when a read found damage: the next start rebuilds the store. */
const DAMAGE_MARK = 'DAMAGED';
const SEP = '\u0000';

/** Key of a state ('s') or timers ('t') entry. */
export function storeKey(kind: 's' | 't', operator: string, partition: number, key: string): string {
  return `${kind}${SEP}${operator}${SEP}${partition}${SEP}${key}`;
}

function encode(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  const out = Buffer.allocUnsafe(body.length + 4);
  out.writeUInt32BE(crc32c(body), 0);
  body.copy(out, 4);
  return out;
}

export interface StoreWrite {
  key: string;
  /** JSON; null deletes the entry. */
  json: string | null;
}

export class DiskState {
  readonly dir: string;
  /** Whether the store existed before this open: one without a stamp then is damaged or was never finished. */
  existed = false;
  private db: ClassicLevel<string, Buffer>;
  private readonly warn: (message: string) => void;

  private constructor(dir: string, db: ClassicLevel<string, Buffer>, warn: (message: string) => void) {
    this.dir = dir;
    this.db = db;
    this.warn = warn;
  }

  /**
   * Opens (or creates) the store of `job` under `stateDir`. A store marked
   * damaged, or that LevelDB cannot open as a database, is deleted with a
   * warning naming it: it is rebuilt from the changelog. A store held by
   * another process is an error.
   */
  static async open(stateDir: string, job: string, warn: (message: string) => void): Promise<DiskState> {
    const dir = join(stateDir, job);
    mkdirSync(dir, { recursive: true });
    if (existsSync(join(dir, DAMAGE_MARK))) {
      warn(`state store ${dir} was found damaged by the last run: rebuilding it from the changelog`);
      rmSync(dir, { recursive: true, force: true });
    }
    const existed = existsSync(join(dir, 'CURRENT'));
    try {
      const store = new DiskState(dir, await openDb(dir), warn);
      store.existed = existed;
      return store;
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') {
        throw new SluiceError(ErrorCodes.IO_ERROR, `state store ${dir} is in use by another process (another instance of job ${job}?): stop it, or give this one its own --state-dir`, { path: dir }, { cause: e });
      }
      warn(`state store ${dir} cannot be opened (${cause?.message ?? (e as Error).message}): rebuilding it from the changelog`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      return new DiskState(dir, await openDb(dir), warn);
    }
  }

  /** The stamp of the last batch written; null for an empty store. */
  async stamp(): Promise<StoreStamp | null> {
    const json = this.read(STAMP);
    return json === undefined ? null : (JSON.parse(json) as StoreStamp);
  }

  /** A key's saved JSON ('s' or 't'), undefined when it has none. */
  get(kind: 's' | 't', operator: string, partition: number, key: string): string | undefined {
    return this.read(storeKey(kind, operator, partition, key));
  }

  /** The raw entry at `key`, checksum verified. */
  read(key: string): string | undefined {
    let v: Buffer | undefined;
    try {
      v = this.db.getSync(key);
    } catch (e) {
      this.damaged(key, (e as Error).message);
    }
    if (v === undefined) return undefined;
    if (v.length < 4 || v.readUInt32BE(0) !== crc32c(v, 4)) this.damaged(key, 'checksum mismatch');
    return v.toString('utf8', 4);
  }

  private damaged(key: string, why: string): never {
    writeFileSync(join(this.dir, DAMAGE_MARK), `${why} at ${JSON.stringify(key)}\n`);
    throw new SluiceError(
      ErrorCodes.DAMAGED,
      `state store ${this.dir} is damaged (${why}, entry ${JSON.stringify(key)}); the job stops, and its next start rebuilds the store from the changelog`,
      { path: this.dir },
    );
  }

  /** Writes `entries` and the stamp in one atomic batch. */
  async write(entries: readonly StoreWrite[], stamp: StoreStamp): Promise<void> {
    const ops = entries.map((e) => (e.json === null ? { type: 'del' as const, key: e.key } : { type: 'put' as const, key: e.key, value: encode(e.json) }));
    ops.push({ type: 'put', key: STAMP, value: encode(JSON.stringify(stamp)) });
    await this.db.batch(ops);
  }

  /** The entries a checkpoint's changes make, for the operators kept on disk. */
  static writesOf(changes: readonly StateChange[], onDisk: ReadonlySet<string>): StoreWrite[] {
    const out: StoreWrite[] = [];
    for (const c of changes) {
      if (!onDisk.has(c.operator)) continue;
      out.push({ key: storeKey('s', c.operator, c.partition, c.key), json: c.state === '' ? null : c.state });
      out.push({ key: storeKey('t', c.operator, c.partition, c.key), json: c.timers === '' ? null : c.timers });
    }
    return out;
  }

  /** Every key with pending timers of the operators kept on disk: [operator, partition, key, timers JSON]. */
  async *timers(): AsyncIterable<[string, number, string, string]> {
    for await (const [k, v] of this.db.iterator({ gte: `t${SEP}`, lt: `t${SEP}\uffff` })) {
      if (v.length < 4 || v.readUInt32BE(0) !== crc32c(v, 4)) this.damaged(k, 'checksum mismatch');
      const [, operator, partition, ...key] = k.split(SEP);
      yield [operator!, Number(partition), key.join(SEP), v.toString('utf8', 4)];
    }
  }

  /** Empties the store (before a rebuild). */
  async clear(): Promise<void> {
    await this.db.clear();
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /** For messages. */
  note(message: string): void {
    this.warn(message);
  }
}

async function openDb(dir: string): Promise<ClassicLevel<string, Buffer>> {
  const db = new ClassicLevel<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  await db.open();
  return db;
}
