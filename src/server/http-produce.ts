// POST /topics/:name/records: a JSON body (one record object or an array of
// them) or JSON lines (one record object per line) → one Producer.send.
//
// The whole body is parsed and checked before anything is appended, so a bad
// record anywhere (wrong type, unknown field, missing partition) rejects the
// request and appends nothing. Partition choice is the Producer's, i.e. the
// same as `sluice produce`: explicit partition > Kafka's murmur2 of the key's
// UTF-8 bytes > round-robin.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Log } from '../log/log.ts';
import { Producer, type SendRecord } from '../log/producer.ts';
import type { Partitioner } from '../partitioner.ts';
import { MAX_TIMESTAMP, timestampProblem } from '../record.ts';
import type { BrokerMetrics } from './metrics.ts';
import { HttpError, readBody, sendJson, utf8 } from './http-io.ts';
import { arrayElements, rawValueAt } from './http-json.ts';

/** Records in one request: a hard limit with a clear error, like the TCP protocol's batches. */
export const MAX_REQUEST_RECORDS = 100_000;

const FIELDS = ['value', 'key', 'partition', 'headers', 'timestamp'];
const NDJSON = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines']);

interface Place {
  /** How the error message names the record: `line 3`, `records[2]`, `the record`. */
  label: string;
  details: Record<string, unknown>;
}

function badRecord(at: Place, message: string): SluiceError {
  return new SluiceError(ErrorCodes.BAD_INPUT, `${at.label}: ${message}; nothing from this request was appended`, at.details);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * One record object → what the Producer sends; `partitions` bounds an explicit
 * partition. `rawValue` is the value's text as sent, stored as is (see http-json.ts).
 */
export function toSendRecord(v: unknown, at: Place, partitions: number, rawValue?: string): SendRecord {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw badRecord(at, `expected a record object like {"value": ...}, got ${typeName(v)}; wrap the value: {"value": ${JSON.stringify(v) ?? 'null'}}`);
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!FIELDS.includes(k)) throw badRecord(at, `unknown field ${JSON.stringify(k)} (a record has ${FIELDS.join(', ')})`);
  }
  if (!('value' in o)) throw badRecord(at, 'missing "value" (use "value": null for a tombstone)');
  // null is a tombstone (no value bytes), the delete marker of compacted topics.
  const r: SendRecord = { value: o['value'] === null ? null : Buffer.from(rawValue ?? JSON.stringify(o['value']), 'utf8'), key: null };

  const key = o['key'];
  if (typeof key === 'string') r.key = Buffer.from(key, 'utf8');
  else if (key !== undefined && key !== null) throw badRecord(at, `"key" must be a string, got ${typeName(key)} (send numbers as text, e.g. "42")`);

  const p = o['partition'];
  if (p !== undefined && p !== null) {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p >= partitions) {
      throw badRecord(at, `"partition" ${JSON.stringify(p)} does not exist: the topic has partitions 0..${partitions - 1}`);
    }
    r.partition = p;
  }

  const h = o['headers'];
  if (h !== undefined && h !== null) {
    if (typeof h !== 'object' || Array.isArray(h)) throw badRecord(at, `"headers" must be an object of strings, got ${typeName(h)}`);
    for (const [k, hv] of Object.entries(h)) {
      if (typeof hv !== 'string') throw badRecord(at, `header ${JSON.stringify(k)} must be a string, got ${typeName(hv)}`);
    }
    r.headers = { ...(h as Record<string, string>) };
  }

  const t = o['timestamp'];
  if (t !== undefined && t !== null) {
    const ms = typeof t === 'string' && /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(t) : t;
    if (timestampProblem(ms) === null) r.timestamp = ms as number;
    else throw badRecord(at, `"timestamp" must be epoch milliseconds (an integer from 0 to ${MAX_TIMESTAMP}) or an ISO-8601 string from 1970 on, got ${typeof t === 'number' ? String(t) : JSON.stringify(t)}`);
  }
  return r;
}

function checkCount(n: number): void {
  if (n > MAX_REQUEST_RECORDS) {
    throw new HttpError(413, 'TOO_LARGE', `the request has more than ${MAX_REQUEST_RECORDS} records; split it into smaller requests`, { limit: MAX_REQUEST_RECORDS });
  }
}

/** The body → records, all checked; throws naming the first bad line or element. */
export function parseRecords(body: Buffer, contentType: string | undefined, partitions: number): SendRecord[] {
  const type = (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  const out: SendRecord[] = [];
  if (NDJSON.has(type)) {
    const text = utf8(body, 'the body');
    let n = 0;
    for (const raw of text.split('\n')) {
      n++;
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line.trim() === '') continue;
      const at = { label: `line ${n}`, details: { line: n } };
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        throw badRecord(at, `not valid JSON (${(e as Error).message})`);
      }
      out.push(toSendRecord(v, at, partitions, rawValueAt(line, 0)));
      checkCount(out.length);
    }
    return out;
  }
  if (type !== 'application/json') {
    throw new HttpError(
      415,
      'BAD_INPUT',
      `unsupported Content-Type ${JSON.stringify(type)}: send application/json (one record object or an array of them) or application/x-ndjson (one record object per line); with curl, add -H 'Content-Type: application/json'`,
    );
  }
  let doc: unknown;
  const text = utf8(body, 'the body');
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SluiceError(ErrorCodes.BAD_INPUT, `the body is not valid JSON (${(e as Error).message}); nothing was appended`);
  }
  if (!Array.isArray(doc)) return [toSendRecord(doc, { label: 'the record', details: {} }, partitions, rawValueAt(text, 0))];
  checkCount(doc.length);
  const starts = arrayElements(text, 0);
  for (let i = 0; i < doc.length; i++) {
    out.push(toSendRecord(doc[i], { label: `records[${i}]`, details: { index: i } }, partitions, rawValueAt(text, starts[i]!)));
  }
  return out;
}

export async function handleProduce(req: IncomingMessage, res: ServerResponse, log: Log, metrics: BrokerMetrics, partitioner: Partitioner, topic: string, maxBodyBytes: number): Promise<void> {
  // An unknown topic is reported before the body is read (or parsed against nothing).
  const info = await log.getTopic(topic);
  const body = await readBody(req, maxBodyBytes);
  const records = parseRecords(body, req.headers['content-type'], info.config.partitions);
  // A Producer per request: it caches partition counts, and a topic deleted and created
  // again with another count must not be hashed with the old one. The Partitioner is
  // shared so round-robin keeps rotating across requests.
  const offsets = await new Producer(log, { partitioner }).send(topic, records);
  let bytes = 0;
  for (const r of records) bytes += (r.key?.length ?? 0) + (r.value?.length ?? 0);
  metrics.recordsIn(topic, records.length, bytes);
  sendJson(res, 200, { offsets });
}
