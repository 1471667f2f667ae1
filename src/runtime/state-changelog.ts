// Where a job's state goes at each checkpoint: the compacted topic
// `<job>-changelog`. Each changed key is one record, keyed by
// ["key", operator, partition, key] (its root record), holding the key's state
// and its pending timers together (they change together: a window's contents
// and its end's timer); each source's resume state is keyed by ["source", name].
// Compaction keeps only the newest record per key, so the topic *is* the
// snapshot: recovery reads it once, and its size follows the number of live
// keys, not the length of the job's history.
//
// A tracked key (a big or global state, keyed-state.ts) saves what changed as
// path records on top of its root record: ["path", operator, partition, key,
// ...path] holding the entry's JSON, where the path is inside the root
// record's value ("s", ...: inside the state; "t": the timers). Restore applies
// records in offset order, each replacing its path's whole subtree; a path
// record applies only onto a root record before it (one without is a leftover
// of a deleted key, whose root tombstone compaction dropped). A deleted entry
// is the value DELETED, not a tombstone: compaction would drop a tombstone in
// time, and an older record of an ancestor would then bring the entry back.
// A state too big for one record is saved whole as a root record holding {}
// and parts: ["part", operator, partition, key, n, ...path], each a JSON object
// of some of the entries of the object at path, merged into it on restore; its
// parts follow the root record in the same transaction, so the same rule holds.
// When a root record is written again (a key deleted, or saved whole), the path
// records before it are dead but compaction cannot see it (they have their own
// keys): they stay until their path is written again; the periodic snapshots
// of issue 15 item 2 are to reclaim them.
//
// Changelogs written before state and timers shared a record hold
// ["state", ...] and ["timers", ...] records instead: they are still read, and
// rewritten in the current form when the job restores (legacyWrite).

import { ErrorCodes, isSluiceError, SluiceError } from '../errors.ts';
import { BATCH_HEADER_SIZE, MAX_BATCH_BYTES, MAX_RECORD_BYTES, RECORD_OVERHEAD, recordSize } from '../log/batch.ts';
import type { Log, TransactionWrite } from '../log/log.ts';
import type { ProducerRecord } from '../record.ts';
import type { SavedTime } from './engine/event-clock.ts';
import type { StateChange } from './engine/keyed-state.ts';
import { applyEntry, applyPart } from './engine/state-tracking.ts';
import { parseChangelogKey, readLatestValues, splitKeyValue } from './changelog-read.ts';

/** The value of a path record for an entry that was deleted (not JSON, so no entry's value can look like it). */
export const DELETED = '-';

/** Bytes of records per append of a checkpoint: a checkpoint writes several appends in one transaction past it. */
const WRITE_BYTES = MAX_BATCH_BYTES / 2 - BATCH_HEADER_SIZE;

export function changelogTopic(job: string): string {
  return `${job}-changelog`;
}

/**
 * Segment size of a new changelog. Compaction never touches the active
 * segment, so a restart reads it whole however many times its keys were
 * rewritten: at the log's default of 64 MiB that was up to a million
 * superseded records. Smaller segments roll often, and each roll lets
 * compaction (dirty ratio) catch up.
 */
export const CHANGELOG_SEGMENT_BYTES = 8 * 1024 * 1024;

export async function ensureChangelog(log: Log, job: string): Promise<void> {
  try {
    await log.createTopic(changelogTopic(job), { partitions: 1, compact: true, file: { segmentBytes: CHANGELOG_SEGMENT_BYTES } });
  } catch (e) {
    if (!isSluiceError(e, ErrorCodes.TOPIC_EXISTS)) throw e;
  }
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The value of a key's record: its state and timers in one JSON object; null (a tombstone) when it has neither. */
function keyValue(c: StateChange): Buffer | null {
  if (c.state === '') return c.timers === '' ? null : utf8(`{"t":${c.timers}}`);
  return utf8(c.timers === '' ? `{"s":${c.state}}` : `{"s":${c.state},"t":${c.timers}}`);
}

/**
 * A root record's key, the text of JSON.stringify(['key', operator, partition, key])
 * (byte for byte: compaction matches keys by their bytes), without building the
 * array: this runs for every changed key at every checkpoint. `prefix` is
 * `["key",<operator as JSON>,`.
 */
function rootKey(prefix: string, partition: number, key: string): Buffer {
  return utf8(`${prefix}${partition},${JSON.stringify(key)}]`);
}

export function changelogWrite(job: string, states: StateChange[], sources: { name: string; state: unknown }[], time?: SavedJobTime): TransactionWrite[] {
  const records: ProducerRecord[] = [];
  let operator = '';
  let prefix = '';
  for (const c of states) {
    if (c.operator !== operator) {
      operator = c.operator;
      prefix = `["key",${JSON.stringify(operator)},`;
    }
    // A key with neither state nor timers is a tombstone: compaction removes it for good.
    if (!c.entries || c.state !== '' || c.timers !== '') records.push(checkSize({ key: rootKey(prefix, c.partition, c.key), value: keyValue(c) }, c, null));
    if (!c.entries) continue;
    for (const e of c.entries) {
      const key = e.part === undefined ? ['path', c.operator, c.partition, c.key, ...e.path] : ['part', c.operator, c.partition, c.key, e.part, ...e.path];
      records.push(checkSize({ key: utf8(JSON.stringify(key)), value: utf8(e.json === '' ? DELETED : e.json) }, c, e.path));
    }
  }
  for (const s of sources) records.push({ key: utf8(JSON.stringify(['source', s.name])), value: utf8(JSON.stringify(s.state ?? null)) });
  if (time) records.push({ key: utf8(JSON.stringify(['time'])), value: utf8(JSON.stringify(time)) });
  return split(changelogTopic(job), records);
}

/** A record the log would refuse (over MAX_RECORD_BYTES) is an error that names the operator, key and path. */
function checkSize(r: ProducerRecord, c: StateChange, path: string[] | null): ProducerRecord {
  const bytes = recordSize(r) - RECORD_OVERHEAD;
  if (bytes <= MAX_RECORD_BYTES) return r;
  const where = path === null ? 'its whole state (saved as one record)' : `the entry at ${path[0] === 't' ? 'its timers' : `$${path.slice(1).map((k) => `[${JSON.stringify(k)}]`).join('')}`}`;
  throw new SluiceError(
    ErrorCodes.TOO_LARGE,
    `state of ${c.operator} for key ${JSON.stringify(c.key)} cannot be saved: ${where} takes ${bytes} bytes, over the log's limit of ${MAX_RECORD_BYTES} for one record; ` +
      'split it into smaller entries (a state of plain objects is saved entry by entry once it is big; an array is saved as one entry)',
    { operator: c.operator, key: c.key, path: path ?? [], bytes, limit: MAX_RECORD_BYTES },
  );
}

/** Records in appends of at most WRITE_BYTES each, all to the changelog's one partition. */
function split(topic: string, records: ProducerRecord[]): TransactionWrite[] {
  const out: TransactionWrite[] = [];
  let cur: ProducerRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const n = recordSize(r);
    if (cur.length > 0 && bytes + n > WRITE_BYTES) {
      out.push({ topic, partition: 0, records: cur });
      cur = [];
      bytes = 0;
    }
    cur.push(r);
    bytes += n;
  }
  if (cur.length > 0) out.push({ topic, partition: 0, records: cur });
  return out;
}

/**
 * Rewrites the records of an older changelog (separate ["state", ...] and
 * ["timers", ...] records) in the current form, with tombstones for the old
 * keys, so that what the job saves from now on is not shadowed by them.
 * Empty when there are none.
 */
export function legacyWrite(job: string, saved: SavedState): TransactionWrite[] {
  if (saved.legacy.keys.length === 0) return [];
  const records = changelogWrite(job, saved.legacy.states, []).flatMap((w) => w.records);
  for (const k of saved.legacy.keys) records.push({ key: utf8(k), value: null });
  return split(changelogTopic(job), records);
}

/** The job's event time and operator counters, saved at each checkpoint. */
export interface SavedJobTime {
  clock: SavedTime;
  /** operator → counter → total (e.g. late events dropped). */
  counters: Record<string, Record<string, number>>;
}

export interface SavedState {
  states: StateChange[];
  sources: Map<string, unknown>;
  time: SavedJobTime | null;
  /** Live records in the older form (see legacyWrite): their keys, and the states they hold (also in `states`). */
  legacy: { keys: string[]; states: StateChange[] };
}

/**
 * The newest committed value of every key in a job's changelog, as text
 * (keys are JSON arrays; '' for a tombstone), in the order of those newest
 * records' offsets. Jobs and exec keep different records there; each reads
 * its own out of this.
 */
export async function readChangelogLatest(log: Log, job: string, skip?: (key: string) => boolean): Promise<Map<string, string>> {
  return readLatestValues(log, changelogTopic(job), skip);
}

/** A key's root record while the changelog is read: its text, parsed only once a path record applies to it. */
interface Root {
  operator: string;
  partition: number;
  key: string;
  text: string;
  value: Record<string, unknown> | null;
}

/** Reads the committed changelog: the newest state and timers of every key, and every source's resume state. */
export async function readChangelog(log: Log, job: string, skip?: (key: string) => boolean): Promise<SavedState> {
  const out: SavedState = { states: [], sources: new Map(), time: null, legacy: { keys: [], states: [] } };
  const legacy = new Map<string, StateChange>();
  const latest = await readChangelogLatest(log, job, skip);
  const rootList: Root[] = [];
  // Only path records look roots up: a changelog without any (most: small keyed states) needs no index of them.
  let roots: Map<string, Root> | null = null;
  for (const k of latest.keys()) {
    if (k.startsWith('["path",') || k.startsWith('["part",')) {
      roots = new Map();
      break;
    }
  }
  for (const [k, v] of latest) {
    const key = parseChangelogKey(k);
    const kind = key[0];
    if (kind === 'key') {
      // A root record replaces whatever this key had: path records before it are dead.
      if (v === '') roots?.delete(k);
      else {
        const root: Root = { operator: String(key[1]), partition: Number(key[2]), key: String(key[3]), text: v, value: null };
        rootList.push(root);
        roots?.set(k, root);
      }
    } else if (kind === 'path' || kind === 'part') {
      // Without a root before it: a leftover of a deleted key, ignored.
      const root = roots!.get(JSON.stringify(['key', key[1], key[2], key[3]]));
      if (!root || v === '') continue;
      root.value ??= JSON.parse(root.text) as Record<string, unknown>;
      if (kind === 'part') applyPart(root.value, key.slice(5), JSON.parse(v) as Record<string, unknown>);
      else applyEntry(root.value, key.slice(4), v === DELETED ? undefined : JSON.parse(v));
    } else if (kind === 'source') out.sources.set(String(key[1]), JSON.parse(v) as unknown);
    else if (v === '') continue;
    else if (kind === 'time') out.time = JSON.parse(v) as SavedJobTime;
    else if (kind === 'state' || kind === 'timers') {
      out.legacy.keys.push(k);
      const id = JSON.stringify(key.slice(1));
      let c = legacy.get(id);
      if (!c) legacy.set(id, (c = { operator: String(key[1]), partition: Number(key[2]), key: String(key[3]), state: '', timers: '' }));
      if (kind === 'state') c.state = v;
      else c.timers = v;
    }
  }
  for (const r of rootList) {
    const { state, timers } = r.value === null ? splitKeyValue(r.text) : { state: 's' in r.value ? JSON.stringify(r.value['s']) : '', timers: 't' in r.value ? JSON.stringify(r.value['t']) : '' };
    if (state !== '' || timers !== '') out.states.push({ operator: r.operator, partition: r.partition, key: r.key, state, timers });
  }
  out.legacy.states = [...legacy.values()];
  out.states.push(...out.legacy.states);
  return out;
}
