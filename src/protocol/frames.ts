// The broker's wire protocol (docs/protocol.md): length-prefixed frames over
// TCP (or TLS). Every frame is
//
//   u32 length   bytes after this field
//   u8  kind     1 request, 2 response, 3 error
//   u8  type     the request type (REQUEST_TYPES), echoed in its response
//   u8  version  the schema version of that type (1)
//   u32 id       chosen by the client; the response carries it back (pipelining:
//                responses may come in any order)
//   u32 jsonLen  then jsonLen bytes of UTF-8 JSON: the request's or response's fields
//   ...          the rest: records (append, commitTransaction, read), see encodeRecords;
//                for readBatches, the log's batches as stored (log/batch.ts)
//
// Records travel as bytes, not JSON, so a produce or a fetch costs no
// per-record JSON work; the fields around them are JSON, which keeps each
// request's schema readable and versionable.

import { ErrorCodes, SluiceError } from '../errors.ts';
import { EMPTY_HEADERS, timestampError, type Headers, type LogRecord, type ProducerRecord } from '../record.ts';
import { MAX_BATCH_BYTES } from '../log/batch.ts';

export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 4 + 1 + 1 + 1 + 4 + 4;
/**
 * Default hard limit on one frame (a produce batch or a fetch response): one full
 * batch of the log and room for the request's JSON and the wire's few bytes more
 * per record. At exactly MAX_BATCH_BYTES, a record the log accepts (up to
 * MAX_RECORD_BYTES) made a frame just over the limit, refused by every broker.
 */
export const DEFAULT_MAX_FRAME_BYTES = MAX_BATCH_BYTES + 1024 * 1024;

export const KIND_REQUEST = 1;
export const KIND_RESPONSE = 2;
export const KIND_ERROR = 3;

/** Request type codes: fixed forever; a change of schema is a new version, not a new code. */
export const REQUEST_TYPES = {
  hello: 1,
  createTopic: 2,
  deleteTopic: 3,
  listTopics: 4,
  getTopic: 5,
  describeTopic: 6,
  append: 7,
  read: 8,
  waitFor: 9,
  offsetForTimestamp: 10,
  commitOffsets: 11,
  committedOffsets: 12,
  listGroups: 13,
  joinGroup: 14,
  heartbeat: 15,
  memberCommit: 16,
  leaveGroup: 17,
  initProducer: 18,
  commitTransaction: 19,
  cancel: 20,
  endOffsets: 21,
  readBatches: 22,
  deleteRecords: 23,
} as const;

export type RequestName = keyof typeof REQUEST_TYPES;
export const REQUEST_NAMES = new Map<number, RequestName>(Object.entries(REQUEST_TYPES).map(([k, v]) => [v, k as RequestName]));

export interface Frame {
  kind: number;
  type: number;
  version: number;
  id: number;
  json: unknown;
  blob: Buffer;
}

export function encodeFrame(kind: number, type: number, id: number, json: unknown, blob?: Buffer | Buffer[]): Buffer[] {
  const j = Buffer.from(JSON.stringify(json ?? null), 'utf8');
  const blobs = blob === undefined ? [] : Array.isArray(blob) ? blob : [blob];
  const blobLen = blobs.reduce((n, b) => n + b.length, 0);
  const head = Buffer.allocUnsafe(HEADER_BYTES);
  head.writeUInt32BE(HEADER_BYTES - 4 + j.length + blobLen, 0);
  head.writeUInt8(kind, 4);
  head.writeUInt8(type, 5);
  head.writeUInt8(PROTOCOL_VERSION, 6);
  head.writeUInt32BE(id >>> 0, 7);
  head.writeUInt32BE(j.length, 11);
  return [head, j, ...blobs];
}

function protocolError(message: string): SluiceError {
  return new SluiceError(ErrorCodes.PROTOCOL_ERROR, message);
}

/**
 * Splits a byte stream into frames. Throws PROTOCOL_ERROR on a frame that
 * breaks the format or the size limit: the connection cannot be trusted after
 * that, so the caller closes it.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private maxFrameBytes: number;
  /** What the TOO_LARGE message tells the sender to do. */
  private hint = 'send smaller batches';

  constructor(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Changes the limit for the frames from the next length field on (the broker's is small until hello). */
  limit(maxFrameBytes: number, hint: string): void {
    this.maxFrameBytes = maxFrameBytes;
    this.hint = hint;
  }

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const first = this.peek(4);
      const length = first.readUInt32BE(0);
      if (length > this.maxFrameBytes) throw new SluiceError(ErrorCodes.TOO_LARGE, `a frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}; ${this.hint}`, { length, limit: this.maxFrameBytes });
      if (length < HEADER_BYTES - 4) throw protocolError(`a frame of ${length} bytes is shorter than the ${HEADER_BYTES - 4}-byte header`);
      if (this.buffered < 4 + length) break;
      frames.push(decodeFrame(this.take(4 + length)));
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    return out;
  }
}

function decodeFrame(buf: Buffer): Frame {
  const kind = buf.readUInt8(4);
  const type = buf.readUInt8(5);
  const version = buf.readUInt8(6);
  const id = buf.readUInt32BE(7);
  const jsonLen = buf.readUInt32BE(11);
  if (kind < KIND_REQUEST || kind > KIND_ERROR) throw protocolError(`unknown frame kind ${kind}`);
  if (HEADER_BYTES + jsonLen > buf.length) throw protocolError(`the JSON part (${jsonLen} bytes) runs past the end of its frame`);
  let json: unknown;
  try {
    json = JSON.parse(buf.toString('utf8', HEADER_BYTES, HEADER_BYTES + jsonLen));
  } catch (e) {
    throw protocolError(`the JSON part of request ${id} is not valid JSON: ${(e as Error).message}`);
  }
  return { kind, type, version, id, json, blob: buf.subarray(HEADER_BYTES + jsonLen) };
}

// ---- records ----------------------------------------------------------------
//
// Per record: f64 offset (reads only), f64 timestamp (NaN: none given),
// i32 key length (-1: null) + key, i32 value length (-1: null) + value,
// u32 headers length (0: none) + headers as JSON.

/** `where` (e.g. `orders/2`) names the partition of records to append in a refusal. */
export function encodeRecords(records: readonly (ProducerRecord | LogRecord)[], withOffsets: boolean, where?: string): Buffer {
  // Records to append: NaN on the wire means "none given", so a NaN (or any invalid
  // time) must be refused here, not silently turned into the append time.
  if (!withOffsets) {
    const badTime = timestampError(records, where);
    if (badTime) throw badTime;
  }
  const n = records.length;
  const fixed = (withOffsets ? 8 : 0) + 8 + 4 + 4 + 4;
  let size = n * fixed;
  // Headers are rare: their JSON is kept only for records that have some.
  let headerJson: (Buffer | null)[] | null = null;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    const key = r.key;
    const value = r.value;
    size += (key === null ? 0 : key.length) + (value === null ? 0 : value.length);
    const hs = r.headers;
    if (hs && hs !== EMPTY_HEADERS && Object.keys(hs).length > 0) {
      const h = Buffer.from(JSON.stringify(hs), 'utf8');
      (headerJson ??= new Array<Buffer | null>(n).fill(null))[i] = h;
      size += h.length;
    }
  }
  const out = Buffer.allocUnsafe(size);
  // DataView setters cost a fraction of Buffer#writeXxxBE (no argument checks per call).
  const dv = new DataView(out.buffer, out.byteOffset, size);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    if (withOffsets) {
      dv.setFloat64(at, (r as LogRecord).offset);
      at += 8;
    }
    dv.setFloat64(at, r.timestamp ?? NaN);
    at += 8;
    const key = r.key;
    if (key === null) {
      dv.setInt32(at, -1);
      at += 4;
    } else {
      dv.setInt32(at, key.length);
      out.set(key, at + 4);
      at += 4 + key.length;
    }
    const value = r.value;
    if (value === null) {
      dv.setInt32(at, -1);
      at += 4;
    } else {
      dv.setInt32(at, value.length);
      out.set(value, at + 4);
      at += 4 + value.length;
    }
    const h = headerJson === null ? null : headerJson[i]!;
    if (h === null) {
      dv.setUint32(at, 0);
      at += 4;
    } else {
      dv.setUint32(at, h.length);
      out.set(h, at + 4);
      at += 4 + h.length;
    }
  }
  return out;
}

export function decodeRecords(buf: Buffer, count: number, withOffsets: true): LogRecord[];
export function decodeRecords(buf: Buffer, count: number, withOffsets: false): ProducerRecord[];
export function decodeRecords(buf: Buffer, count: number, withOffsets: boolean): (LogRecord | ProducerRecord)[] {
  const out: (LogRecord | ProducerRecord)[] = new Array(count);
  const end = buf.length;
  const dv = new DataView(buf.buffer, buf.byteOffset, end);
  // One copy of the whole records part, which the keys and values are plain
  // Uint8Array views into (as the embedded log's records are): they outlive
  // the frame (in the log's caches, in the caller's hands) and must not pin
  // the socket's buffers; one copy costs far less than one per key and value.
  const copy = new Uint8Array(end);
  copy.set(buf);
  const ab = copy.buffer;
  const short = () => protocolError(`the records part ends in the middle of record ${count}: expected ${count} records`);
  let at = 0;
  for (let i = 0; i < count; i++) {
    let offset = 0;
    if (withOffsets) {
      if (at + 8 > end) throw short();
      offset = dv.getFloat64(at);
      at += 8;
    }
    if (at + 12 > end) throw short(); // the timestamp and the key's length
    const ts = dv.getFloat64(at);
    at += 8;
    let key: Uint8Array | null = null;
    const kl = dv.getInt32(at);
    at += 4;
    if (kl !== -1) {
      if (kl < 0) throw protocolError(`negative length ${kl} in the records part`);
      if (at + kl > end) throw short();
      key = new Uint8Array(ab, at, kl);
      at += kl;
    }
    if (at + 4 > end) throw short();
    let value: Uint8Array | null = null;
    const vl = dv.getInt32(at);
    at += 4;
    if (vl !== -1) {
      if (vl < 0) throw protocolError(`negative length ${vl} in the records part`);
      if (at + vl > end) throw short();
      value = new Uint8Array(ab, at, vl);
      at += vl;
    }
    if (at + 4 > end) throw short();
    const hLen = dv.getUint32(at);
    at += 4;
    let headers: Headers = EMPTY_HEADERS;
    if (hLen > 0) {
      if (at + hLen > end) throw short();
      try {
        headers = JSON.parse(buf.toString('utf8', at, at + hLen)) as Headers;
      } catch {
        throw protocolError(`the headers of record ${i} are not valid JSON`);
      }
      if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) throw protocolError(`the headers of record ${i} are not an object`);
      if (Object.values(headers).some((v) => typeof v !== 'string')) throw protocolError(`the headers of record ${i} must have string values`);
      at += hLen;
    }
    if (withOffsets) out[i] = { offset, timestamp: ts, key, value, headers };
    else {
      const r: ProducerRecord = { key, value, headers };
      if (!Number.isNaN(ts)) r.timestamp = ts;
      out[i] = r;
    }
  }
  if (at !== end) throw protocolError(`the records part has ${end - at} bytes after its ${count} records`);
  return out;
}

/** A SluiceError as an error frame's JSON, and back. */
export function errorJson(e: unknown): { code: string; message: string; details: unknown } {
  if (e instanceof SluiceError) return { code: e.code, message: e.message, details: e.details };
  // The broker logs the stack (tcp-server.ts); the client gets the message and where to look.
  return { code: ErrorCodes.INTERNAL, message: `internal error on the broker: ${(e as Error)?.message ?? String(e)}; the broker's log has the stack`, details: {} };
}

export function errorFrom(json: unknown): Error {
  const j = (json ?? {}) as { code?: string; message?: string; details?: Record<string, unknown> };
  const codes = Object.values(ErrorCodes) as string[];
  if (j.code !== undefined && codes.includes(j.code)) return new SluiceError(j.code as SluiceError['code'], j.message ?? j.code, j.details ?? {});
  return new Error(`broker: ${j.message ?? 'unknown error'}`);
}
