// The record: the unit everything in Sluice moves. At the log layer keys and
// values are bytes; codecs (src/codec.ts) turn them into JSON, strings, etc.

import { ErrorCodes, SluiceError } from './errors.ts';

export type Headers = Record<string, string>;

/** What a producer hands to the log. `value: null` is a tombstone (deletes the key under compaction). */
export interface ProducerRecord {
  key: Uint8Array | null;
  value: Uint8Array | null;
  /** Event time in ms since the epoch. Defaults to the append time. */
  timestamp?: number;
  headers?: Headers;
}

/** A record as stored: with the offset the log gave it. */
export interface LogRecord {
  offset: number;
  timestamp: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: Headers;
}

export const EMPTY_HEADERS: Headers = Object.freeze({}) as Headers;

/**
 * The largest event time: the end of the JS Date range (year 275760), so every
 * timestamp converts to a Date and an ISO string. Batches store timestamps as
 * f64, exact for every integer up to 2^53, so the range, not the format, is the
 * limit. Times before 1970 are refused (as `sluice produce` and the HTTP API did
 * for numbers): the index and retention read "no time" as -Infinity, and a
 * record without a timestamp gets its append time, so no sentinel like Kafka's
 * -1 is needed.
 */
export const MAX_TIMESTAMP = 8_640_000_000_000_000;

/** Why `ts` is not a valid event time (integer ms from 0 to MAX_TIMESTAMP), or null. */
export function timestampProblem(ts: unknown): string | null {
  if (typeof ts !== 'number') return `${typeof ts} is not a number of milliseconds`;
  if (!Number.isInteger(ts)) return `${String(ts)} is not an integer number of milliseconds`;
  if (ts < 0 || ts > MAX_TIMESTAMP) return `${ts} is outside the range 0..${MAX_TIMESTAMP} (1970 to the year 275760, in epoch ms)`;
  return null;
}

/** INVALID_ARGUMENT naming the first record (by its index in `records`) whose timestamp is invalid, or null. */
export function timestampError(records: readonly { timestamp?: number | undefined }[], where?: string): SluiceError | null {
  for (let i = 0; i < records.length; i++) {
    const ts = records[i]!.timestamp;
    if (ts === undefined) continue;
    const problem = timestampProblem(ts);
    if (problem !== null) {
      return new SluiceError(ErrorCodes.INVALID_ARGUMENT, `record ${i} of the append${where === undefined ? '' : ` to ${where}`}: its timestamp ${problem}`, { record: i });
    }
  }
  return null;
}
