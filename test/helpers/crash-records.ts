// The records the crash test's child appends, generated from their identity
// alone, so the parent can check every byte of whatever survived a kill -9.

import type { LogRecord, ProducerRecord } from '../../src/record.ts';

export const CRASH_TOPIC = 'crash';

/** Record number `i` of partition `p` appended by the child of round `round`. */
export function crashRecord(round: number, p: number, i: number): ProducerRecord {
  const id = `${round}:${p}:${i}`;
  // Sizes vary from a few bytes to ~6 KiB so batches straddle pages and write calls.
  const padLen = (i * 7919 + round * 104729 + p * 31) % (i % 17 === 0 ? 6000 : 300);
  const pad = String.fromCharCode(97 + ((i + round) % 26)).repeat(padLen);
  return {
    key: Buffer.from(`k-${id}`),
    value: Buffer.from(JSON.stringify({ id, round, p, i, pad })),
    timestamp: 1_700_000_000_000 + round * 1_000_000 + i,
    headers: { id },
  };
}

/** A marker the parent appends after each verified reopen. */
export function markerRecord(round: number, p: number): ProducerRecord {
  return { key: null, value: Buffer.from(JSON.stringify({ marker: round, p })), timestamp: 1_600_000_000_000 + round, headers: {} };
}

/** True when `got` holds exactly the bytes of `want`. */
export function sameRecord(got: LogRecord, want: ProducerRecord): boolean {
  const eq = (a: Uint8Array | null, b: Uint8Array | null) => (a === null || b === null ? a === b : Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0);
  return (
    eq(got.key, want.key) &&
    eq(got.value, want.value) &&
    got.timestamp === want.timestamp &&
    JSON.stringify(got.headers) === JSON.stringify(want.headers ?? {})
  );
}

/** Small seeded PRNG (mulberry32): the same seed gives the same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
