// The record: the unit everything in Sluice moves. At the log layer keys and
// values are bytes; codecs (src/codec.ts) turn them into JSON, strings, etc.

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
