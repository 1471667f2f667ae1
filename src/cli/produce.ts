// `sluice produce TOPIC`: JSON lines on stdin → records. Each non-blank line is
// one record whose value is the line's JSON text, unchanged — or, with
// --tombstone-field, a tombstone for the line's key when that field is true: the
// line carries the key, so a delete can sit between upserts in one ordered
// input, as in a changelog (Debezium's __deleted, Kafka Connect's rewrite mode).
// Lines are appended
// in batches (group commit does the rest). The first bad line stops the run:
// everything before it is flushed and acknowledged, nothing from it on is
// written, and the summary on stderr says exactly what was accepted.

import type { Command } from 'commander';
import { SluiceError } from '../errors.ts';
import { BatchingProducer, Producer, type BatcherSummary, type SendRecord } from '../log/producer.ts';
import type { Log } from '../log/log.ts';
import { MAX_RECORD_BYTES } from '../log/batch.ts';
import { MAX_TIMESTAMP, timestampProblem } from '../record.ts';
import { EXIT_FAILURE, ExitError, messageFor } from './exit.ts';
import { openLog, parseIntArg } from './options.ts';
import { Progress, rate } from './progress.ts';

interface ProduceOptions {
  keyField?: string;
  tombstoneField?: string;
  timestampField?: string;
  partition?: number;
  batchRecords: number;
  batchBytes: number;
  quiet?: boolean;
}

const NL = 0x0a;
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

class BadLine extends SluiceError {
  constructor(line: number, message: string) {
    super('BAD_INPUT', `line ${line}: ${message}`, { line });
  }
}

function describeType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Field value → key bytes. Strings as they are; numbers/booleans as their text; objects as JSON. */
function keyOf(doc: unknown, field: string, line: number): Uint8Array {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new BadLine(line, `--key-field needs a JSON object, got ${describeType(doc)}`);
  }
  const v = (doc as Record<string, unknown>)[field];
  if (v === undefined) throw new BadLine(line, `key field ${JSON.stringify(field)} is missing`);
  if (v === null) throw new BadLine(line, `key field ${JSON.stringify(field)} is null`);
  return Buffer.from(typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v));
}

/** Field value → event time: epoch milliseconds (a number) or an ISO-8601 string. */
function timestampOf(doc: unknown, field: string, line: number): number {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new BadLine(line, `--timestamp-field needs a JSON object, got ${describeType(doc)}`);
  }
  const v = (doc as Record<string, unknown>)[field];
  if (v === undefined) throw new BadLine(line, `timestamp field ${JSON.stringify(field)} is missing`);
  // Fractions of a millisecond are dropped (as ISO strings' would be); the range is the log's.
  const t = typeof v === 'number' ? Math.floor(v) : typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (timestampProblem(t) === null) return t;
  throw new BadLine(
    line,
    `timestamp field ${JSON.stringify(field)} is ${typeof v === 'number' ? String(v) : JSON.stringify(v)}: expected epoch milliseconds (a number from 0 to ${MAX_TIMESTAMP}) or an ISO-8601 string from 1970 on`,
  );
}

const RECORD_LIMIT = `the limit of ${MAX_RECORD_BYTES} bytes for one record (key and value); the limit is fixed (no option raises it): store a payload this large elsewhere and produce a reference to it`;
/** A line's CR and BOM are not stored, so a longer line is too large whatever its key. */
const MAX_LINE_BYTES = MAX_RECORD_BYTES + 4;

/** The record, or BadLine when it is too large to append (the log would refuse its batch). */
function checkSize(r: SendRecord, line: number): SendRecord {
  const size = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  if (size > MAX_RECORD_BYTES) throw new BadLine(line, `the record is ${size} bytes, over ${RECORD_LIMIT}`);
  return r;
}

function isBlank(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

/** True when the line is a delete. Only booleans are accepted: a string "true" is more likely a mistake than a delete. */
function isTombstone(doc: unknown, field: string, line: number): boolean {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new BadLine(line, `--tombstone-field needs a JSON object, got ${describeType(doc)}`);
  }
  const v = (doc as Record<string, unknown>)[field];
  if (v === undefined || v === false) return false;
  if (v === true) return true;
  throw new BadLine(line, `tombstone field ${JSON.stringify(field)} is ${JSON.stringify(v)}: expected true (a delete), false or no such field`);
}

/** One input line (without its newline) → a record; throws BadLine. */
export function lineToRecord(raw: Uint8Array, line: number, o: Pick<ProduceOptions, 'keyField' | 'tombstoneField' | 'timestampField' | 'partition'>): SendRecord {
  let bytes = raw;
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new BadLine(line, 'not valid UTF-8');
  }
  // TextDecoder strips a leading BOM from the text; drop it from the stored bytes too.
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new BadLine(line, `not valid JSON (${(e as Error).message})`);
  }
  const r: SendRecord = { key: null, value: bytes };
  if (o.keyField !== undefined) r.key = keyOf(doc, o.keyField, line);
  if (o.tombstoneField !== undefined && isTombstone(doc, o.tombstoneField, line)) r.value = null;
  if (o.timestampField !== undefined) r.timestamp = timestampOf(doc, o.timestampField, line);
  if (o.partition !== undefined) r.partition = o.partition;
  return r;
}

export function formatSummary(topic: string, s: BatcherSummary): string {
  const plural = s.records === 1 ? '' : 's';
  if (s.records === 0) return `produced 0 records to ${topic}`;
  const parts = s.partitions.map((p) =>
    p.firstOffset === p.lastOffset ? `partition ${p.partition} offset ${p.firstOffset}` : `partition ${p.partition} offsets ${p.firstOffset}-${p.lastOffset}`,
  );
  return `produced ${s.records} record${plural} to ${topic} (${parts.join(', ')})`;
}

async function produce(topic: string, o: ProduceOptions, cmd: Command): Promise<void> {
  // A tombstone without a key deletes nothing: compaction keeps the newest record per key.
  if (o.tombstoneField !== undefined && o.keyField === undefined) {
    throw new SluiceError('INVALID_ARGUMENT', '--tombstone-field needs --key-field: a tombstone deletes the key its line gives');
  }
  const log = await openLog(cmd, 'write');
  try {
    await produceWith(log, topic, o);
  } catch (e) {
    await log.close().catch(() => {});
    throw e;
  }
  // Every record is acknowledged by now, so a failure closing the log (an index that
  // cannot be persisted on a full disk) loses nothing: exiting 1 would make a
  // retrying script append them twice.
  try {
    await log.close();
  } catch (e) {
    process.stderr.write(`sluice: warning: the records above are acknowledged and safe (do not produce them again), but ${messageFor(e)}\n`);
  }
}

/** Appends stdin's lines; returns once every record is acknowledged, throws ExitError after reporting a bad line or failed append. */
async function produceWith(log: Log, topic: string, o: ProduceOptions): Promise<void> {
  const producer = new Producer(log);
  // Fails with UNKNOWN_TOPIC (exit 2) before any input is read.
  const n = await producer.partitionCount(topic);
  if (o.partition !== undefined && o.partition >= n) {
    throw new SluiceError('INVALID_ARGUMENT', `--partition ${o.partition}: topic ${topic} has partitions 0..${n - 1}`);
  }
  const batcher = new BatchingProducer(producer, topic, { maxRecords: o.batchRecords, maxBytes: o.batchBytes });
  let bad: unknown = undefined;
  let line = 0;
  const started = Date.now();
  const progress = new Progress(() => `produce ${topic}: ${line} lines read (${rate(line, started)}/s), ${batcher.summary().records} records appended`, o.quiet);
  try {
    // A line split over chunks is kept as a list and joined once, at its newline:
    // joining at every chunk made an 80 MB line cost minutes (quadratic copying).
    let carry: Buffer[] = [];
    let carried = 0;
    const take = async (raw: Uint8Array) => {
      line++;
      if (isBlank(raw)) return;
      const wait = batcher.add(checkSize(lineToRecord(raw, line, o), line));
      if (wait) await wait;
    };
    outer: for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      let start = 0;
      let nl = chunk.indexOf(NL, start);
      while (nl !== -1) {
        let raw: Uint8Array = chunk.subarray(start, nl);
        if (carried > 0) {
          carry.push(chunk.subarray(start, nl));
          raw = Buffer.concat(carry, carried + nl - start);
          carry = [];
          carried = 0;
        }
        try {
          await take(raw);
        } catch (e) {
          bad = e;
          break outer;
        }
        start = nl + 1;
        nl = chunk.indexOf(NL, start);
      }
      if (start < chunk.length) {
        carry.push(chunk.subarray(start));
        carried += chunk.length - start;
        // Refused before all of it is buffered: the line could be endless.
        if (carried > MAX_LINE_BYTES) {
          line++;
          bad = new BadLine(line, `the line is longer than ${MAX_LINE_BYTES} bytes (${carried} read so far), over ${RECORD_LIMIT}`);
          break outer;
        }
      }
    }
    // The last line may lack a newline.
    if (bad === undefined && carried > 0) {
      try {
        await take(Buffer.concat(carry, carried));
      } catch (e) {
        bad = e;
      }
    }
  } finally {
    progress.stop();
    // Whatever preceded a bad line (or an error) is appended; a flush error wins over a bad line
    // only if nothing was reported yet.
    try {
      await batcher.flush();
    } catch (e) {
      bad ??= e;
    }
  }
  if (bad !== undefined) {
    const msg = bad instanceof Error ? bad.message : String(bad);
    process.stderr.write(`sluice: ${msg}\n`);
    const from = bad instanceof BadLine ? `; nothing from line ${line} on was written` : '';
    process.stderr.write(`${formatSummary(topic, batcher.summary())}${from}\n`);
    throw new ExitError(EXIT_FAILURE);
  }
  process.stderr.write(`${formatSummary(topic, batcher.summary())}\n`);
}

export function registerProduce(program: Command): void {
  program
    .command('produce')
    .description('append JSON lines from stdin to a topic, one record per line')
    .argument('<topic>', 'topic name')
    .option('-k, --key-field <field>', 'use this top-level field of each line as the record key (partitions by key)')
    .option('--tombstone-field <field>', 'a line whose field is true is a delete: a tombstone (null value) for its --key-field key')
    .option('-t, --timestamp-field <field>', 'use this field as event time: epoch ms or an ISO-8601 string')
    .option('-p, --partition <n>', 'append every record to this partition', parseIntArg(0))
    .option('--batch-records <n>', 'records per append', parseIntArg(1, 1_000_000), 1000)
    .option('--batch-bytes <n>', 'bytes per append', parseIntArg(1, 64 * 1024 * 1024), 1024 * 1024)
    .option('-q, --quiet', 'no progress lines while it reads (the summary still ends the run)')
    .action((topic: string, o: ProduceOptions, cmd: Command) => produce(topic, o, cmd));
}
