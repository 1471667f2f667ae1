// Reading a changelog back at restore, at the cost of its live state: the
// batches as stored (Log.readBatches, large reads), each record's key and
// value decoded straight out of them (no record object, no copy of its
// bytes), and the two forms nearly every record has — a key
// ["key", operator, partition, key] and a value {"s":STATE} — taken apart by
// position instead of by JSON.parse and JSON.stringify. Anything else (escapes
// in a key, timers in a value, other kinds of record) goes through JSON as
// before, so the fast paths change no result, only its cost.

import { forEachValue } from '../log/batch.ts';
import type { Log } from '../log/log.ts';

/**
 * Bytes per read (soft: a read returns at least one whole batch, and a batch
 * may be up to 64 MiB). Over a broker the reply must fit its frame limit of
 * one largest batch plus 1 MiB, so the soft part stays well under 1 MiB.
 */
const READ_BYTES = 512 * 1024;
const READ_RECORDS = 1_000_000;

/**
 * The newest committed value of every key of partition 0 of `topic`, as text
 * ('' for a tombstone), in the order of those newest records' offsets.
 */
export async function readLatestValues(log: Log, topic: string, skip?: (key: string) => boolean): Promise<Map<string, string>> {
  const latest = new Map<string, string>();
  let offset = (await log.endOffsets(topic))[0]!.startOffset;
  for (;;) {
    const r = await log.readBatches(topic, 0, offset, { isolation: 'read_committed', maxBytes: READ_BYTES, maxRecords: READ_RECORDS });
    if (r.records > 0) {
      const b = Buffer.from(r.batches.buffer, r.batches.byteOffset, r.batches.byteLength);
      forEachValue(r.batches, offset, Infinity, (_offset, vs, vl, ks, kl) => {
        if (kl < 0) return;
        const k = b.toString('utf8', ks, ks + kl);
        // Records another reader takes care of (a store on disk, disk-restore.ts): not held in memory here.
        if (skip?.(k)) return;
        const v = vl < 0 ? '' : b.toString('utf8', vs, vs + vl);
        const size = latest.size;
        latest.set(k, v);
        // A key seen before is moved to the end, so that the map's order is that of each key's newest record.
        if (latest.size === size) {
          latest.delete(k);
          latest.set(k, v);
        }
      });
    }
    // Done only after a read *at* the end: that is where a reader finds out that records a writer
    // synced are missing (DAMAGED), instead of restoring an older state as if it were the newest.
    if (r.records === 0 && r.nextOffset >= r.highWatermark) return latest;
    offset = r.nextOffset;
  }
}

const KEY_PREFIX = '["key","';

/**
 * A changelog record's key (a JSON array), as JSON.parse would return it.
 * JSON.stringify writes a backslash for every quote, control character and
 * lone surrogate in a string, so a key without one is plain text between its
 * quotes and can be cut at them.
 */
export function parseChangelogKey(k: string): unknown[] {
  if (k.startsWith(KEY_PREFIX) && k.endsWith('"]') && k.indexOf('\\') === -1) {
    const opEnd = k.indexOf('"', KEY_PREFIX.length);
    let i = opEnd + 2;
    let partition = 0;
    for (let c = k.charCodeAt(i); c >= 48 && c <= 57 && i < opEnd + 12; c = k.charCodeAt(++i)) partition = partition * 10 + c - 48;
    // `"op",` then digits (no leading zero but 0 itself), then `,"key"]` with no other quote in the key.
    if (k.charCodeAt(opEnd + 1) === 44 && i > opEnd + 2 && (k.charCodeAt(opEnd + 2) !== 48 || i === opEnd + 3) && k.charCodeAt(i) === 44 && k.charCodeAt(i + 1) === 34 && k.indexOf('"', i + 2) === k.length - 2) {
      return ['key', k.slice(KEY_PREFIX.length, opEnd), partition, k.slice(i + 2, -2)];
    }
  }
  return JSON.parse(k) as unknown[];
}

/**
 * The state and timers (JSON text, '' when absent) of a key's record value
 * {"s":STATE,"t":TIMERS}. A value with no "t": anywhere holds no timers: its
 * state is the text between `{"s":` and the closing brace.
 */
export function splitKeyValue(v: string): { state: string; timers: string } {
  if (v.startsWith('{"s":') && v.endsWith('}') && v.indexOf('"t":') === -1) return { state: v.slice(5, -1), timers: '' };
  const saved = JSON.parse(v) as { s?: unknown; t?: unknown };
  return { state: 's' in saved ? JSON.stringify(saved.s) : '', timers: 't' in saved ? JSON.stringify(saved.t) : '' };
}
