// Where a job's state goes at each checkpoint: the compacted topic
// `<job>-changelog`. Each changed key is one record, keyed by
// ["key", operator, partition, key], holding the key's state and its pending
// timers together (they change together: a window's contents and its end's
// timer); each source's resume state is keyed by ["source", name]. Compaction
// keeps only the newest record per key, so the topic *is* the snapshot:
// recovery reads it once, and its size follows the number of live keys, not
// the length of the job's history.
//
// Changelogs written before state and timers shared a record hold
// ["state", ...] and ["timers", ...] records instead: they are still read, and
// rewritten in the current form when the job restores (legacyWrite).

import { ErrorCodes, isSluiceError } from '../errors.ts';
import type { Log, TransactionWrite } from '../log/log.ts';
import type { ProducerRecord } from '../record.ts';
import type { SavedTime } from './engine/event-clock.ts';
import type { StateChange } from './engine/keyed-state.ts';

export function changelogTopic(job: string): string {
  return `${job}-changelog`;
}

export async function ensureChangelog(log: Log, job: string): Promise<void> {
  try {
    await log.createTopic(changelogTopic(job), { partitions: 1, compact: true });
  } catch (e) {
    if (!isSluiceError(e, ErrorCodes.TOPIC_EXISTS)) throw e;
  }
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The value of a key's record: its state and timers in one JSON object; null (a tombstone) when it has neither. */
function keyValue(c: StateChange): Buffer | null {
  if (c.state === '' && c.timers === '') return null;
  const parts: string[] = [];
  if (c.state !== '') parts.push(`"s":${c.state}`);
  if (c.timers !== '') parts.push(`"t":${c.timers}`);
  return utf8(`{${parts.join(',')}}`);
}

export function changelogWrite(job: string, states: StateChange[], sources: { name: string; state: unknown }[], time?: SavedJobTime): TransactionWrite | null {
  const records: ProducerRecord[] = [];
  // A key with neither state nor timers is a tombstone: compaction removes it for good.
  for (const c of states) records.push({ key: utf8(JSON.stringify(['key', c.operator, c.partition, c.key])), value: keyValue(c) });
  for (const s of sources) records.push({ key: utf8(JSON.stringify(['source', s.name])), value: utf8(JSON.stringify(s.state ?? null)) });
  if (time) records.push({ key: utf8(JSON.stringify(['time'])), value: utf8(JSON.stringify(time)) });
  return records.length === 0 ? null : { topic: changelogTopic(job), partition: 0, records };
}

/**
 * Rewrites the records of an older changelog (separate ["state", ...] and
 * ["timers", ...] records) in the current form, with tombstones for the old
 * keys, so that what the job saves from now on is not shadowed by them.
 * Null when there are none.
 */
export function legacyWrite(job: string, saved: SavedState): TransactionWrite | null {
  if (saved.legacy.keys.length === 0) return null;
  const records = changelogWrite(job, saved.legacy.states, [])?.records ?? [];
  for (const k of saved.legacy.keys) records.push({ key: utf8(k), value: null });
  return { topic: changelogTopic(job), partition: 0, records };
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
 * (keys are JSON arrays; '' for a tombstone). Jobs and exec keep different
 * records there; each reads its own out of this.
 */
export async function readChangelogLatest(log: Log, job: string): Promise<Map<string, string>> {
  const topic = changelogTopic(job);
  const latest = new Map<string, string>();
  let offset = (await log.endOffsets(topic))[0]!.startOffset;
  for (;;) {
    const r = await log.read(topic, 0, offset, { isolation: 'read_committed' });
    for (const rec of r.records) if (rec.key) latest.set(Buffer.from(rec.key).toString('utf8'), rec.value ? Buffer.from(rec.value).toString('utf8') : '');
    // Done only after a read *at* the end: that is where a reader finds out that records a writer
    // synced are missing (DAMAGED), instead of restoring an older state as if it were the newest.
    if (r.records.length === 0 && r.nextOffset >= r.highWatermark) return latest;
    offset = r.nextOffset;
  }
}

/** Reads the committed changelog: the newest state and timers of every key, and every source's resume state. */
export async function readChangelog(log: Log, job: string): Promise<SavedState> {
  const out: SavedState = { states: [], sources: new Map(), time: null, legacy: { keys: [], states: [] } };
  const legacy = new Map<string, StateChange>();
  for (const [k, v] of await readChangelogLatest(log, job)) {
    const key = JSON.parse(k) as unknown[];
    const kind = key[0];
    if (kind === 'source') out.sources.set(String(key[1]), JSON.parse(v) as unknown);
    else if (v === '') continue;
    else if (kind === 'time') out.time = JSON.parse(v) as SavedJobTime;
    else if (kind === 'key') {
      const saved = JSON.parse(v) as { s?: unknown; t?: unknown };
      out.states.push({
        operator: String(key[1]),
        partition: Number(key[2]),
        key: String(key[3]),
        state: 's' in saved ? JSON.stringify(saved.s) : '',
        timers: 't' in saved ? JSON.stringify(saved.t) : '',
      });
    } else if (kind === 'state' || kind === 'timers') {
      out.legacy.keys.push(k);
      const id = JSON.stringify(key.slice(1));
      let c = legacy.get(id);
      if (!c) legacy.set(id, (c = { operator: String(key[1]), partition: Number(key[2]), key: String(key[3]), state: '', timers: '' }));
      if (kind === 'state') c.state = v;
      else c.timers = v;
    }
  }
  out.legacy.states = [...legacy.values()];
  out.states.push(...out.legacy.states);
  return out;
}
