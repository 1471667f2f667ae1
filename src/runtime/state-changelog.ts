// Where a job's state goes at each checkpoint: the compacted topic
// `<job>-changelog`. Each changed key's state is one record, keyed by
// ["state", operator, partition, key]; each source's resume state by
// ["source", name]. Compaction keeps only the newest record per key, so the
// topic *is* the snapshot: recovery reads it once, and its size follows the
// number of live keys, not the length of the job's history.

import { ErrorCodes, isSluiceError } from '../errors.ts';
import type { Log, TransactionWrite } from '../log/log.ts';
import type { ProducerRecord } from '../record.ts';
import type { SavedTime } from './event-clock.ts';

export interface StateChange {
  operator: string;
  partition: number;
  key: string;
  /** '' deletes the saved state. */
  json: string;
  /** 'timers': the key's pending timers rather than its state. */
  kind?: 'timers';
}

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

export function changelogWrite(job: string, states: StateChange[], sources: { name: string; state: unknown }[], time?: SavedJobTime): TransactionWrite | null {
  const records: ProducerRecord[] = [];
  for (const c of states) {
    // A deleted state is a tombstone: compaction removes the key for good.
    records.push({ key: utf8(JSON.stringify([c.kind ?? 'state', c.operator, c.partition, c.key])), value: c.json === '' ? null : utf8(c.json) });
  }
  for (const s of sources) records.push({ key: utf8(JSON.stringify(['source', s.name])), value: utf8(JSON.stringify(s.state ?? null)) });
  if (time) records.push({ key: utf8(JSON.stringify(['time'])), value: utf8(JSON.stringify(time)) });
  return records.length === 0 ? null : { topic: changelogTopic(job), partition: 0, records };
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
}

/**
 * The newest committed value of every key in a job's changelog, as text
 * (keys are JSON arrays; '' for a tombstone). Jobs and exec keep different
 * records there; each reads its own out of this.
 */
export async function readChangelogLatest(log: Log, job: string): Promise<Map<string, string>> {
  const topic = changelogTopic(job);
  const latest = new Map<string, string>();
  const d = await log.describeTopic(topic);
  let offset = d.partitions[0]!.startOffset;
  for (;;) {
    const r = await log.read(topic, 0, offset, { isolation: 'read_committed' });
    for (const rec of r.records) if (rec.key) latest.set(Buffer.from(rec.key).toString('utf8'), rec.value ? Buffer.from(rec.value).toString('utf8') : '');
    if (r.nextOffset >= r.highWatermark) return latest;
    offset = r.nextOffset;
  }
}

/** Reads the committed changelog: the newest state of every key, and every source's resume state. */
export async function readChangelog(log: Log, job: string): Promise<SavedState> {
  const out: SavedState = { states: [], sources: new Map(), time: null };
  for (const [k, v] of await readChangelogLatest(log, job)) {
    const key = JSON.parse(k) as unknown[];
    if (key[0] === 'state' && v !== '') out.states.push({ operator: String(key[1]), partition: Number(key[2]), key: String(key[3]), json: v });
    else if (key[0] === 'timers' && v !== '') out.states.push({ operator: String(key[1]), partition: Number(key[2]), key: String(key[3]), json: v, kind: 'timers' });
    else if (key[0] === 'source') out.sources.set(String(key[1]), JSON.parse(v) as unknown);
    else if (key[0] === 'time' && v !== '') out.time = JSON.parse(v) as SavedJobTime;
  }
  return out;
}
