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
import { ErrorCodes, SluiceError } from '../errors.ts';

export const MAGIC = 1;
export const ATTR_TRANSACTIONAL = 1;
export const ATTR_CONTROL = 2;
export const BATCH_HEADER_SIZE = 66;
export const RECORD_OVERHEAD = 26;
/** Hard limit on one batch, so a corrupt length field cannot make a reader allocate gigabytes. */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/**
 * The most a single record's key, value and headers may hold together: what a
 * batch of that one record leaves. Fixed, like MAX_BATCH_BYTES (no option raises
 * it): a larger payload belongs in a file or object store, with a reference in the log.
 */
export const MAX_RECORD_BYTES = MAX_BATCH_BYTES - BATCH_HEADER_SIZE - RECORD_OVERHEAD;

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

// DataView accessors are several times faster than Buffer's readUInt32BE & co in V8.
function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function writeU64(dv: DataView, v: number, pos: number): void {
  if (v < 0) {
    dv.setInt32(pos, -1);
    dv.setInt32(pos + 4, -1);
    return;
  }
  dv.setUint32(pos, Math.floor(v / TWO32));
  dv.setUint32(pos + 4, v % TWO32);
}

function readU64(dv: DataView, pos: number): number {
  const hi = dv.getInt32(pos);
  if (hi === -1 && dv.getInt32(pos + 4) === -1) return -1;
  return hi * TWO32 + dv.getUint32(pos + 4);
}

function headersSize(h: Headers | undefined): number {
  if (h === undefined || h === EMPTY_HEADERS) return 0;
  let n = 0;
  let count = 0;
  for (const k in h) {
    const kl = Buffer.byteLength(k);
    // The format stores a name's length and the number of headers in 16 bits: refuse rather than wrap.
    if (kl > 0xffff || ++count > 0xffff) throw new SluiceError(ErrorCodes.TOO_LARGE, `a record header ${kl > 0xffff ? `name of ${kl} bytes` : 'set of more than 65535 headers'} exceeds the format's limit (65535); use shorter header names or fewer headers`);
    n += 6 + kl + Buffer.byteLength(h[k]!);
  }
  return n;
}

/** Byte size of one record inside a batch (including its length field). */
export function recordSize(r: ProducerRecord): number {
  return RECORD_OVERHEAD + (r.key ? r.key.length : 0) + (r.value ? r.value.length : 0) + headersSize(r.headers);
}

/** TOO_LARGE for an encoded batch of `bytes` over MAX_BATCH_BYTES: one record too big, or too many at once. */
export function batchTooLarge(bytes: number, records: readonly ProducerRecord[], where: string): SluiceError {
  const big = records.findIndex((r) => recordSize(r) - RECORD_OVERHEAD > MAX_RECORD_BYTES);
  if (big >= 0) {
    const size = recordSize(records[big]!) - RECORD_OVERHEAD;
    return new SluiceError(
      ErrorCodes.TOO_LARGE,
      `record ${big} of the append to ${where} holds ${size} bytes (key, value and headers), over the limit of ${MAX_RECORD_BYTES} for one record; ` +
        'the limit is fixed: store a payload this large elsewhere and append a reference to it',
      { record: big, bytes: size, limit: MAX_RECORD_BYTES },
    );
  }
  return new SluiceError(ErrorCodes.TOO_LARGE, `a batch of ${bytes} bytes (${records.length} records) for ${where} exceeds the limit of ${MAX_BATCH_BYTES}; append fewer records at a time`, {
    bytes,
    limit: MAX_BATCH_BYTES,
  });
}

/** Encodes records into one batch; offsets are baseOffset + offsetDeltas[i]. */
export function encodeBatch(records: readonly ProducerRecord[], opts: EncodeOptions): Buffer {
  const n = records.length;
  let size = BATCH_HEADER_SIZE;
  for (let i = 0; i < n; i++) size += recordSize(records[i]!);
  const buf = Buffer.allocUnsafe(size);
  const dv = view(buf);
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
    dv.setUint32(pos + 4, deltas ? deltas[i]! : i);
    dv.setFloat64(pos + 8, ts);
    pos += 16;
    const key = r.key;
    if (key === null) {
      dv.setInt32(pos, -1);
      pos += 4;
    } else {
      dv.setInt32(pos, key.length);
      buf.set(key, pos + 4);
      pos += 4 + key.length;
    }
    const value = r.value;
    if (value === null) {
      dv.setInt32(pos, -1);
      pos += 4;
    } else {
      dv.setInt32(pos, value.length);
      buf.set(value, pos + 4);
      pos += 4 + value.length;
    }
    const h = r.headers;
    if (h === undefined || h === EMPTY_HEADERS) {
      dv.setUint16(pos, 0);
      pos += 2;
    } else {
      const countPos = pos;
      pos += 2;
      let count = 0;
      for (const k in h) {
        const kl = buf.write(k, pos + 2);
        dv.setUint16(pos, kl);
        pos += 2 + kl;
        const vl = buf.write(h[k]!, pos + 4);
        dv.setUint32(pos, vl);
        pos += 4 + vl;
        count++;
      }
      dv.setUint16(countPos, count);
    }
    dv.setUint32(start, pos - start - 4);
  }
  dv.setUint32(0, size - 4);
  buf[8] = MAGIC;
  buf[9] = opts.attributes ?? 0;
  dv.setUint16(10, 0);
  writeU64(dv, opts.baseOffset, 12);
  dv.setUint32(20, n === 0 ? 0 : deltas ? deltas[n - 1]! : n - 1);
  dv.setFloat64(24, n === 0 ? opts.appendTime : firstTs);
  dv.setFloat64(32, n === 0 ? opts.appendTime : maxTs);
  dv.setFloat64(40, opts.appendTime);
  const p = opts.producer;
  writeU64(dv, p ? p.producerId : -1, 48);
  dv.setInt16(56, p ? p.producerEpoch : -1);
  dv.setInt32(58, p ? p.baseSequence : -1);
  dv.setUint32(62, n);
  dv.setUint32(4, crc32c(buf, 8, size));
  return buf;
}

/**
 * A control batch with no records covering offsets [from, to): written by a
 * repair where acknowledged records were lost, so their offsets are never
 * handed out again, and by compaction at the end of a rewritten segment, so
 * it ends where the next segment begins (readers skip it).
 */
export function encodeGapBatch(from: number, to: number, appendTime: number, maxTimestamp = appendTime): Buffer {
  const buf = encodeBatch([], { baseOffset: from, appendTime, attributes: ATTR_CONTROL });
  buf.writeUInt32BE(to - 1 - from, 20);
  // Compaction's gaps keep the segment's timestamps as they were: seeks by time land as before.
  buf.writeDoubleBE(maxTimestamp, 24);
  buf.writeDoubleBE(maxTimestamp, 32);
  buf.writeUInt32BE(crc32c(buf, 8, buf.length), 4);
  return buf;
}

/** A gap batch (encodeGapBatch): the only control batch with no records. */
export function isGapBatch(h: BatchHeader): boolean {
  return (h.attributes & ATTR_CONTROL) !== 0 && h.recordCount === 0;
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
  const dv = view(buf);
  const length = dv.getUint32(pos);
  if (length < BATCH_HEADER_SIZE - 4 || length > MAX_BATCH_BYTES) return 'length';
  if (buf[pos + 8] !== MAGIC) return 'magic';
  const size = length + 4;
  if (end - pos < size) return 'short';
  const crc = dv.getUint32(pos + 4);
  if (verify && crc32c(buf, pos + 8, pos + size) !== crc) return 'crc';
  return {
    size,
    crc,
    attributes: buf[pos + 9]!,
    baseOffset: readU64(dv, pos + 12),
    lastOffsetDelta: dv.getUint32(pos + 20),
    firstTimestamp: dv.getFloat64(pos + 24),
    maxTimestamp: dv.getFloat64(pos + 32),
    appendTime: dv.getFloat64(pos + 40),
    producerId: readU64(dv, pos + 48),
    producerEpoch: dv.getInt16(pos + 56),
    baseSequence: dv.getInt32(pos + 58),
    recordCount: dv.getUint32(pos + 62),
  };
}

/**
 * Decodes the records of a verified batch, skipping those below `minOffset`.
 * Keys and values are Uint8Array views (not Buffers) sharing memory with
 * `buf`: callers must not reuse it.
 */
export function decodeRecords(buf: Uint8Array, pos: number, h: BatchHeader, minOffset: number, out: LogRecord[], limit: number): void {
  const b = buf as Buffer;
  const dv = view(buf);
  // Plain Uint8Array views cost about half of Buffer#subarray, which goes through species lookup.
  const ab = buf.buffer;
  const base = buf.byteOffset;
  let p = pos + BATCH_HEADER_SIZE;
  const n = h.recordCount;
  for (let i = 0; i < n && out.length < limit; i++) {
    const next = p + 4 + dv.getUint32(p);
    const offset = h.baseOffset + dv.getUint32(p + 4);
    if (offset < minOffset) {
      p = next;
      continue;
    }
    const timestamp = dv.getFloat64(p + 8);
    p += 16;
    const kl = dv.getInt32(p);
    p += 4;
    let key: Uint8Array | null = null;
    if (kl >= 0) {
      key = new Uint8Array(ab, base + p, kl);
      p += kl;
    }
    const vl = dv.getInt32(p);
    p += 4;
    let value: Uint8Array | null = null;
    if (vl >= 0) {
      value = new Uint8Array(ab, base + p, vl);
      p += vl;
    }
    const hc = dv.getUint16(p);
    p += 2;
    let headers = EMPTY_HEADERS;
    if (hc > 0) {
      headers = {};
      for (let j = 0; j < hc; j++) {
        const nl = dv.getUint16(p);
        const name = b.toString('utf8', p + 2, p + 2 + nl);
        p += 2 + nl;
        const hl = dv.getUint32(p);
        headers[name] = b.toString('utf8', p + 4, p + 4 + hl);
        p += 4 + hl;
      }
    }
    out.push({ offset, timestamp, key, value, headers });
    p = next;
  }
}

/** How many records of a verified batch have an offset at or after `minOffset`. */
export function countRecordsFrom(buf: Uint8Array, pos: number, h: BatchHeader, minOffset: number): number {
  if (h.baseOffset >= minOffset) return h.recordCount;
  const dv = view(buf);
  let p = pos + BATCH_HEADER_SIZE;
  let n = 0;
  for (let i = 0; i < h.recordCount; i++) {
    if (h.baseOffset + dv.getUint32(p + 4) >= minOffset) n++;
    p += 4 + dv.getUint32(p);
  }
  return n;
}

/**
 * Visits the records of `batches` (whole verified batches, as Log.readBatches
 * returns them) at offsets from `minOffset` on, at most `limit` of them, by
 * where their value and key lie in `batches` (length -1: a tombstone, a null
 * key). Nothing is allocated per record. Returns the number visited.
 */
export function forEachValue(
  batches: Uint8Array,
  minOffset: number,
  limit: number,
  visit: (offset: number, valueStart: number, valueLength: number, keyStart: number, keyLength: number) => void,
): number {
  const dv = view(batches);
  let seen = 0;
  for (let b = 0; b < batches.length && seen < limit; ) {
    const size = dv.getUint32(b) + 4;
    const baseOffset = readU64(dv, b + 12);
    const n = dv.getUint32(b + 62);
    let p = b + BATCH_HEADER_SIZE;
    for (let i = 0; i < n && seen < limit; i++) {
      const next = p + 4 + dv.getUint32(p);
      const offset = baseOffset + dv.getUint32(p + 4);
      if (offset >= minOffset) {
        const kl = dv.getInt32(p + 16);
        const v = p + 20 + (kl > 0 ? kl : 0);
        visit(offset, v + 4, dv.getInt32(v), p + 20, kl);
        seen++;
      }
      p = next;
    }
    b += size;
  }
  return seen;
}
