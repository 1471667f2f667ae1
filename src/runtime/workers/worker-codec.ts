// Compact forms for what crosses between the main thread and workers. Structured
// clone of thousands of small objects (events, records with their own Buffers)
// costs more than the work they carry, so events travel as columns and encoded
// records as one packed, transferred ArrayBuffer per batch.

import type { SinkRecord } from '../../dataflow/io.ts';
import type { Event } from '../../dataflow/graph.ts';
import { EMPTY_HEADERS, type Headers } from '../../record.ts';

export interface EventColumns {
  values: unknown[];
  keys: (string | null)[];
  partitions: Int32Array;
  timestamps: Float64Array;
  watermarks: Float64Array;
  seqs: Float64Array;
  /** Present only when some event has headers. */
  headers: Headers[] | null;
  origins: string[];
  positions: Float64Array;
}

export function toColumns(events: Event[]): EventColumns {
  const n = events.length;
  const c: EventColumns = {
    values: new Array<unknown>(n),
    keys: new Array<string | null>(n),
    partitions: new Int32Array(n),
    timestamps: new Float64Array(n),
    watermarks: new Float64Array(n),
    seqs: new Float64Array(n),
    headers: null,
    origins: new Array<string>(n),
    positions: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    c.values[i] = e.value;
    c.keys[i] = e.key;
    c.partitions[i] = e.partition;
    c.timestamps[i] = e.timestamp;
    c.watermarks[i] = e.watermark;
    c.seqs[i] = e.seq;
    c.origins[i] = e.origin;
    c.positions[i] = e.position;
    if (e.headers !== EMPTY_HEADERS && Object.keys(e.headers).length > 0) {
      c.headers ??= new Array<Headers>(n).fill(EMPTY_HEADERS);
      c.headers[i] = e.headers;
    }
  }
  return c;
}

export function fromColumns(c: EventColumns): Event[] {
  const n = c.values.length;
  const out = new Array<Event>(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      value: c.values[i],
      key: c.keys[i]!,
      partition: c.partitions[i]!,
      timestamp: c.timestamps[i]!,
      watermark: c.watermarks[i]!,
      seq: c.seqs[i]!,
      headers: c.headers?.[i] ?? EMPTY_HEADERS,
      origin: c.origins[i]!,
      position: c.positions[i]!,
    };
  }
  return out;
}

export interface PackedRecords {
  /** Per record: keyLen i32 (-1 = null) | key | valueLen i32 (-1 = null) | value. */
  bytes: ArrayBuffer;
  count: number;
  timestamps: Float64Array;
  headers: (Headers | undefined)[] | null;
}

export function packRecords(records: SinkRecord[]): PackedRecords {
  let size = 0;
  for (const r of records) size += 8 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
  const bytes = new ArrayBuffer(size);
  const u8 = new Uint8Array(bytes);
  const dv = new DataView(bytes);
  const timestamps = new Float64Array(records.length);
  let headers: (Headers | undefined)[] | null = null;
  let p = 0;
  records.forEach((r, i) => {
    for (const part of [r.key, r.value]) {
      if (part === null) {
        dv.setInt32(p, -1);
        p += 4;
      } else {
        dv.setInt32(p, part.length);
        u8.set(part, p + 4);
        p += 4 + part.length;
      }
    }
    timestamps[i] = r.timestamp;
    if (r.headers !== undefined && r.headers !== EMPTY_HEADERS && Object.keys(r.headers).length > 0) {
      headers ??= new Array<Headers | undefined>(records.length);
      headers[i] = r.headers;
    }
  });
  return { bytes, count: records.length, timestamps, headers };
}

export function unpackRecords(p: PackedRecords): SinkRecord[] {
  const dv = new DataView(p.bytes);
  const out = new Array<SinkRecord>(p.count);
  let pos = 0;
  const part = (): Uint8Array | null => {
    const len = dv.getInt32(pos);
    pos += 4;
    if (len < 0) return null;
    const v = new Uint8Array(p.bytes, pos, len);
    pos += len;
    return v;
  };
  for (let i = 0; i < p.count; i++) {
    const key = part();
    const value = part();
    const r: SinkRecord = { key, value, timestamp: p.timestamps[i]! };
    const h = p.headers?.[i];
    if (h) r.headers = h;
    out[i] = r;
  }
  return out;
}
