// The on-disk (and later on-wire) batch format. One append = one batch, framed by
// its length and protected by a CRC-32C, so a torn write or a flipped bit is
// detected before a single record of it is returned.
//
//   off size field
//   0   4    length       bytes after this field (so a batch is 4 + length bytes)
//   4   4    crc          CRC-32C of bytes [8, 4 + length)
//   8   1    magic        = 1
//   9   1    attributes   bit0 transactional, bit1 control (commit/abort marker)
//   10  2    reserved
//   12  8    baseOffset
//   20  4    lastOffsetDelta  (offset of the last record - baseOffset; gaps allowed after compaction)
//   24  8    firstTimestamp   f64 ms
//   32  8    maxTimestamp     f64 ms
//   40  8    appendTime       f64 ms, the broker's clock; drives retention and tombstone expiry
//   48  8    producerId       -1 when none  } for idempotence and transactions:
//   56  2    producerEpoch    -1 when none  } a transactional batch becomes visible to
//   58  4    baseSequence     -1 when none  } read_committed readers only once its commit marker is
//   62  4    recordCount
//   66  ...  records
//
// A record:  length u32 | offsetDelta u32 | timestamp f64 | keyLen i32 (-1 = null) | key
//            | valueLen i32 (-1 = null, a tombstone) | value | headerCount u16
//            | per header: nameLen u16 | name | valueLen u32 | value   (UTF-8)
//
// Integers are big-endian. Offsets and producer ids are 64-bit on disk, read as
// JS numbers (exact up to 2^53).

import { crc32c } from '../util/crc32c.ts';
import { EMPTY_HEADERS, type Headers, type LogRecord, type ProducerRecord } from '../record.ts';

export const BATCH_HEADER_SIZE = 66;
export const RECORD_OVERHEAD = 26;
export const MAGIC = 1;
export const ATTR_TRANSACTIONAL = 1;
export const ATTR_CONTROL = 2;
/** Hard limit on one batch, so a corrupt length field cannot make a reader allocate gigabytes. */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;

const TWO32 = 0x100000000;

export interface BatchHeader {
  /** Byte size of the whole batch including the length field. */
  size: number;
  crc: number;
  attributes: number;
  baseOffset: number;
  lastOffsetDelta: number;
  firstTimestamp: number;
  maxTimestamp: number;
  appendTime: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export interface ProducerStamp {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

export interface EncodeOptions {
  baseOffset: number;
  appendTime: number;
  attributes?: number;
  producer?: ProducerStamp;
  /** Offset deltas per record (compaction keeps original offsets); default 0..n-1. */
  offsetDeltas?: ArrayLike<number>;
}

function writeU64(buf: Buffer, v: number, pos: number): void {
  if (v < 0) {
    buf.writeInt32BE(-1, pos);
    buf.writeInt32BE(-1, pos + 4);
    return;
  }
  buf.writeUInt32BE(Math.floor(v / TWO32), pos);
  buf.writeUInt32BE(v % TWO32, pos + 4);
}

function readU64(buf: Uint8Array, pos: number): number {
  const b = buf as Buffer;
  const hi = b.readInt32BE(pos);
  if (hi === -1 && b.readInt32BE(pos + 4) === -1) return -1;
  return hi * TWO32 + b.readUInt32BE(pos + 4);
}

function headersSize(h: Headers | undefined): number {
  if (h === undefined || h === EMPTY_HEADERS) return 0;
  let n = 0;
  for (const k in h) n += 6 + Buffer.byteLength(k) + Buffer.byteLength(h[k]!);
  return n;
}

/** Byte size of one record inside a batch (including its length field). */
export function recordSize(r: ProducerRecord): number {
  return RECORD_OVERHEAD + (r.key ? r.key.length : 0) + (r.value ? r.value.length : 0) + headersSize(r.headers);
}

/** Encodes records into one batch; offsets are baseOffset + offsetDeltas[i]. */
export function encodeBatch(records: readonly ProducerRecord[], opts: EncodeOptions): Buffer {
  const n = records.length;
  let size = BATCH_HEADER_SIZE;
  for (let i = 0; i < n; i++) size += recordSize(records[i]!);
  const buf = Buffer.allocUnsafe(size);
  const deltas = opts.offsetDeltas;
  let firstTs = Infinity;
  let maxTs = -Infinity;
  let pos = BATCH_HEADER_SIZE;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    const start = pos;
    const ts = r.timestamp ?? opts.appendTime;
    if (i === 0) firstTs = ts;
    if (ts > maxTs) maxTs = ts;
    pos += 4;
    buf.writeUInt32BE(deltas ? deltas[i]! : i, pos);
    buf.writeDoubleBE(ts, pos + 4);
    pos += 12;
    const key = r.key;
    if (key === null) {
      buf.writeInt32BE(-1, pos);
      pos += 4;
    } else {
      buf.writeInt32BE(key.length, pos);
      buf.set(key, pos + 4);
      pos += 4 + key.length;
    }
    const value = r.value;
    if (value === null) {
      buf.writeInt32BE(-1, pos);
      pos += 4;
    } else {
      buf.writeInt32BE(value.length, pos);
      buf.set(value, pos + 4);
      pos += 4 + value.length;
    }
    const h = r.headers;
    if (h === undefined || h === EMPTY_HEADERS) {
      buf.writeUInt16BE(0, pos);
      pos += 2;
    } else {
      const countPos = pos;
      pos += 2;
      let count = 0;
      for (const k in h) {
        const kl = buf.write(k, pos + 2);
        buf.writeUInt16BE(kl, pos);
        pos += 2 + kl;
        const vl = buf.write(h[k]!, pos + 4);
        buf.writeUInt32BE(vl, pos);
        pos += 4 + vl;
        count++;
      }
      buf.writeUInt16BE(count, countPos);
    }
    buf.writeUInt32BE(pos - start - 4, start);
  }
  buf.writeUInt32BE(size - 4, 0);
  buf[8] = MAGIC;
  buf[9] = opts.attributes ?? 0;
  buf.writeUInt16BE(0, 10);
  writeU64(buf, opts.baseOffset, 12);
  buf.writeUInt32BE(n === 0 ? 0 : deltas ? deltas[n - 1]! : n - 1, 20);
  buf.writeDoubleBE(n === 0 ? opts.appendTime : firstTs, 24);
  buf.writeDoubleBE(n === 0 ? opts.appendTime : maxTs, 32);
  buf.writeDoubleBE(opts.appendTime, 40);
  const p = opts.producer;
  writeU64(buf, p ? p.producerId : -1, 48);
  buf.writeInt16BE(p ? p.producerEpoch : -1, 56);
  buf.writeInt32BE(p ? p.baseSequence : -1, 58);
  buf.writeUInt32BE(n, 62);
  buf.writeUInt32BE(crc32c(buf, 8, size), 4);
  return buf;
}

/** Why a batch could not be decoded at some position. */
export type BatchProblem = 'short' | 'length' | 'magic' | 'crc';

/**
 * Reads the header of the batch at `pos`. Returns a problem instead of a header
 * when the bytes there are not a whole, valid batch: 'short' (fewer bytes than
 * the header or the declared length: a torn tail, or just not read yet),
 * 'length'/'magic' (garbage), 'crc' (checksum mismatch). With verify=false the
 * CRC is not computed (the caller already trusts these bytes).
 */
export function readBatchHeader(buf: Uint8Array, pos: number, end: number, verify = true): BatchHeader | BatchProblem {
  if (end - pos < BATCH_HEADER_SIZE) return 'short';
  const b = buf as Buffer;
  const length = b.readUInt32BE(pos);
  if (length < BATCH_HEADER_SIZE - 4 || length > MAX_BATCH_BYTES) return 'length';
  if (b[pos + 8] !== MAGIC) return 'magic';
  const size = length + 4;
  if (end - pos < size) return 'short';
  const crc = b.readUInt32BE(pos + 4);
  if (verify && crc32c(buf, pos + 8, pos + size) !== crc) return 'crc';
  return {
    size,
    crc,
    attributes: b[pos + 9]!,
    baseOffset: readU64(buf, pos + 12),
    lastOffsetDelta: b.readUInt32BE(pos + 20),
    firstTimestamp: b.readDoubleBE(pos + 24),
    maxTimestamp: b.readDoubleBE(pos + 32),
    appendTime: b.readDoubleBE(pos + 40),
    producerId: readU64(buf, pos + 48),
    producerEpoch: b.readInt16BE(pos + 56),
    baseSequence: b.readInt32BE(pos + 58),
    recordCount: b.readUInt32BE(pos + 62),
  };
}

/** Only the length prefix, for a reader that must know how many bytes to fetch. */
export function peekBatchSize(buf: Uint8Array, pos: number): number {
  return (buf as Buffer).readUInt32BE(pos) + 4;
}

/**
 * Decodes the records of a verified batch, skipping those below `minOffset`.
 * Keys, values and the returned records share memory with `buf`: callers must
 * not reuse it.
 */
export function decodeRecords(buf: Uint8Array, pos: number, h: BatchHeader, minOffset: number, out: LogRecord[], limit: number): void {
  const b = buf as Buffer;
  let p = pos + BATCH_HEADER_SIZE;
  const n = h.recordCount;
  for (let i = 0; i < n && out.length < limit; i++) {
    const len = b.readUInt32BE(p);
    const next = p + 4 + len;
    const offset = h.baseOffset + b.readUInt32BE(p + 4);
    if (offset < minOffset) {
      p = next;
      continue;
    }
    const timestamp = b.readDoubleBE(p + 8);
    p += 16;
    const kl = b.readInt32BE(p);
    p += 4;
    let key: Uint8Array | null = null;
    if (kl >= 0) {
      key = b.subarray(p, p + kl);
      p += kl;
    }
    const vl = b.readInt32BE(p);
    p += 4;
    let value: Uint8Array | null = null;
    if (vl >= 0) {
      value = b.subarray(p, p + vl);
      p += vl;
    }
    const hc = b.readUInt16BE(p);
    p += 2;
    let headers = EMPTY_HEADERS;
    if (hc > 0) {
      headers = {};
      for (let j = 0; j < hc; j++) {
        const nl = b.readUInt16BE(p);
        const name = b.toString('utf8', p + 2, p + 2 + nl);
        p += 2 + nl;
        const hl = b.readUInt32BE(p);
        headers[name] = b.toString('utf8', p + 4, p + 4 + hl);
        p += 4 + hl;
      }
    }
    out.push({ offset, timestamp, key, value, headers });
    p = next;
  }
}

/** Iterates the offsets of a batch's records (for compaction and index building). */
export function recordOffsets(buf: Uint8Array, pos: number, h: BatchHeader): number[] {
  const b = buf as Buffer;
  const out: number[] = [];
  let p = pos + BATCH_HEADER_SIZE;
  for (let i = 0; i < h.recordCount; i++) {
    out.push(h.baseOffset + b.readUInt32BE(p + 4));
    p += 4 + b.readUInt32BE(p);
  }
  return out;
}
