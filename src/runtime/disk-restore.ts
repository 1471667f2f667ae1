// How a job with operators kept on disk (disk-state.ts) gets its store to the
// committed checkpoint at start, as Kafka Streams' exactly-once stores do with
// their checkpoint file: the store's stamp says which changelog incarnation
// (topic id) and which end offset it reflects.
//
//   stamp = changelog's committed end      the store is current: nothing to read
//   stamp behind the end                   apply the changelog records after it
//   no stamp, another topic id, a stamp    rebuild: empty the store, apply the
//   ahead of the end or before its start   whole changelog
//
// Records are applied in offset order, as readChangelog resolves them: a root
// record replaces the key's state and timers (a tombstone deletes them), a path
// or part record applies onto the root before it. Applying again from the same
// offset gives the same result, so a start that crashes half way through is
// simply repeated: batches written on the way keep the old stamp (a rebuild's
// batches a stamp that matches no topic).

import type { Log } from '../log/log.ts';
import type { Engine } from './engine/engine.ts';
import { applyEntry, applyPart } from './engine/state-tracking.ts';
import { DELETED, changelogTopic } from './state-changelog.ts';
import { storeKey, type DiskState, type StoreStamp, type StoreWrite } from './disk-state.ts';

/** Keys changed per batch written while restoring: what the restore holds in memory. */
const RESTORE_BATCH = 20_000;

interface Saved {
  operator: string;
  partition: number;
  key: string;
  /** The root record's value, { s?: state, t?: timers }; null when the key has neither. */
  value: Record<string, unknown> | null;
}

/** Whether a changelog key (JSON text) may be a record of a kept-on-disk operator: checked before parsing it. */
export function isKeyRecord(k: string): boolean {
  return k.startsWith('["key",') || k.startsWith('["path",') || k.startsWith('["part",');
}

/** Brings `store` to the changelog's committed end and puts back the timers of the operators it keeps. */
export async function restoreOnDisk(log: Log, job: string, store: DiskState, onDisk: ReadonlySet<string>, engine: Engine): Promise<void> {
  const topic = changelogTopic(job);
  const { id } = await log.getTopic(topic);
  const { startOffset, endOffset } = (await log.endOffsets(topic))[0]!;
  const stamp = await store.stamp();
  let from = stamp?.offset ?? startOffset;
  let keep: StoreStamp = { topicId: 'rebuilding', offset: -1 };
  const why =
    stamp === null ? (store.existed ? 'it has no stamp (its files are damaged, or it was never written to the end)' : null)
    : stamp.topicId === 'rebuilding' ? 'an earlier rebuild did not finish'
    : stamp.topicId !== id ? `it belongs to another incarnation of topic ${topic} (topic id ${stamp.topicId}, now ${id})`
    : stamp.offset > endOffset ? `it is ahead of the changelog (stamped at offset ${stamp.offset}, the committed end of ${topic} is ${endOffset}): it was written by another run`
    : stamp.offset < startOffset ? `it is behind the start of ${topic} (stamped at offset ${stamp.offset}, the log starts at ${startOffset})`
    : null;
  if (stamp === null || why !== null) {
    if (why !== null) store.note(`state store ${store.dir} is not used: ${why}; rebuilding it from ${topic}`);
    await store.clear();
    from = startOffset;
  } else keep = stamp;
  if (from < endOffset) await applyChangelog(log, topic, from, store, onDisk, keep);
  await store.write([], { topicId: id, offset: endOffset });
  for await (const [operator, partition, key, timers] of store.timers()) {
    if (onDisk.has(operator)) engine.restore({ operator, partition, key, state: '', timers });
  }
}

async function applyChangelog(log: Log, topic: string, from: number, store: DiskState, onDisk: ReadonlySet<string>, stamp: StoreStamp): Promise<void> {
  const pending = new Map<string, Saved>();
  const flush = async () => {
    const writes: StoreWrite[] = [];
    for (const c of pending.values()) {
      const s = c.value !== null && 's' in c.value ? JSON.stringify(c.value['s']) : null;
      const t = c.value !== null && 't' in c.value ? JSON.stringify(c.value['t']) : null;
      writes.push({ key: storeKey('s', c.operator, c.partition, c.key), json: s }, { key: storeKey('t', c.operator, c.partition, c.key), json: t });
    }
    pending.clear();
    await store.write(writes, stamp);
  };
  let offset = from;
  for (;;) {
    const r = await log.read(topic, 0, offset, { isolation: 'read_committed' });
    for (const rec of r.records) {
      if (!rec.key) continue;
      const k = Buffer.from(rec.key).toString('utf8');
      if (!isKeyRecord(k)) continue;
      const key = JSON.parse(k) as unknown[];
      const operator = String(key[1]);
      if (!onDisk.has(operator)) continue;
      const partition = Number(key[2]);
      const name = String(key[3]);
      const id = JSON.stringify([operator, partition, name]);
      const text = rec.value ? Buffer.from(rec.value).toString('utf8') : '';
      if (key[0] === 'key') {
        pending.delete(id);
        pending.set(id, { operator, partition, key: name, value: text === '' ? null : (JSON.parse(text) as Record<string, unknown>) });
        continue;
      }
      const root = pending.get(id) ?? loadRoot(store, operator, partition, name);
      // Without a root before it: a leftover of a deleted key (as in readChangelog).
      if (root.value === null || text === '') continue;
      if (key[0] === 'part') applyPart(root.value, key.slice(5) as string[], JSON.parse(text) as Record<string, unknown>);
      else applyEntry(root.value, key.slice(4) as string[], text === DELETED ? undefined : JSON.parse(text));
      pending.set(id, root);
    }
    if (pending.size >= RESTORE_BATCH) await flush();
    if (r.records.length === 0 && r.nextOffset >= r.highWatermark) break;
    offset = r.nextOffset;
  }
  await flush();
}

function loadRoot(store: DiskState, operator: string, partition: number, key: string): Saved {
  const s = store.get('s', operator, partition, key);
  const t = store.get('t', operator, partition, key);
  if (s === undefined && t === undefined) return { operator, partition, key, value: null };
  const value: Record<string, unknown> = {};
  if (s !== undefined) value['s'] = JSON.parse(s);
  if (t !== undefined) value['t'] = JSON.parse(t);
  return { operator, partition, key, value };
}
