// Key → partition. Sluice uses exactly Kafka's default partitioner for keyed
// records: toPositive(murmur2(keyBytes)) % partitions, with murmur2 seeded with
// 0x9747b28c. The same key bytes therefore land on the same partition number as
// in a Kafka topic with the same partition count, so data and consumers can move
// between the two without re-keying. Records with a null key are spread
// round-robin (Kafka's older behaviour; simpler to reason about than sticky).

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/**
 * Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2): a signed 32-bit
 * result, identical bit for bit to the Java implementation.
 */
export function murmur2(data: Uint8Array, length = data.length): number {
  let h = SEED ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  // The Java code's switch falls through from 3 to 1; the same as nested ifs.
  const rest = length & 3;
  const tail = length & ~3;
  if (rest > 0) {
    if (rest === 3) h ^= data[tail + 2]! << 16;
    if (rest >= 2) h ^= data[tail + 1]! << 8;
    h ^= data[tail]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's Utils.toPositive: clears the sign bit (not Math.abs, which overflows on MIN_VALUE). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition Kafka's default partitioner would pick for these key bytes. */
export function partitionForKey(key: Uint8Array, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  return toPositive(murmur2(key)) % partitions;
}

const utf8 = new TextEncoder();
let scratch = new Uint8Array(256);

/**
 * partitionForKey of a string's UTF-8 bytes, without allocating them: keyBy
 * calls this for every event, so ASCII keys are copied into a reused buffer.
 */
export function partitionForStringKey(key: string, partitions: number): number {
  const n = key.length;
  if (n * 3 > scratch.length) scratch = new Uint8Array(n * 3);
  let ascii = true;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c > 0x7f) {
      ascii = false;
      break;
    }
    scratch[i] = c;
  }
  const len = ascii ? n : utf8.encodeInto(key, scratch).written;
  return toPositive(murmur2(scratch, len)) % partitions;
}

/** Chooses partitions for records: by key hash, or round-robin when the key is null. */
export class Partitioner {
  #next: number;

  /** `start` lets callers randomise where round-robin begins so short-lived producers do not all hit partition 0. */
  constructor(start = 0) {
    this.#next = start;
  }

  partition(key: Uint8Array | null, partitions: number): number {
    if (key !== null) return partitionForKey(key, partitions);
    if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
    const p = this.#next % partitions;
    this.#next = (p + 1) % partitions;
    return p;
  }
}
