import { test } from 'node:test';
import assert from 'node:assert/strict';
import { murmur2, partitionForKey, Partitioner, toPositive } from '../src/partitioner.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

// Vectors from Kafka's own UtilsTest.testMurmur2 (and librdkafka's, which checks
// compatibility with the Java client): these pin us to Kafka's partitioning.
const vectors: [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
  ['1', -1993445489],
  ['12', 126087238],
  ['123', -267702483],
  ['1234', -1614185708],
  ['12345', -1188365604],
];

test('murmur2 matches Kafka for known vectors', () => {
  for (const [s, expected] of vectors) assert.equal(murmur2(utf8(s)), expected, s);
});

test('murmur2 of the empty key is defined and stable', () => {
  assert.equal(murmur2(new Uint8Array(0)), murmur2(new Uint8Array(0)));
  assert.ok(Number.isInteger(murmur2(new Uint8Array(0))));
});

test('murmur2 treats bytes as unsigned in the tail', () => {
  // A high-bit byte in the tail must not sign-extend (older Kafka clients had this bug).
  const a = murmur2(new Uint8Array([0xff]));
  const b = murmur2(new Uint8Array([0x7f]));
  assert.notEqual(a, b);
  assert.ok(a >= -0x80000000 && a <= 0x7fffffff);
});

test('toPositive clears the sign bit like Kafka (not abs)', () => {
  assert.equal(toPositive(-1), 0x7fffffff);
  assert.equal(toPositive(-0x80000000), 0);
  assert.equal(toPositive(5), 5);
});

test('partitionForKey is toPositive(murmur2) % n', () => {
  for (const [s, h] of vectors) {
    for (const n of [1, 2, 3, 8, 12]) assert.equal(partitionForKey(utf8(s), n), (h & 0x7fffffff) % n);
  }
  assert.throws(() => partitionForKey(utf8('x'), 0), RangeError);
});

test('Partitioner: keyed records hash, null keys go round-robin', () => {
  const p = new Partitioner();
  assert.deepEqual([0, 1, 2, 3].map(() => p.partition(null, 3)), [0, 1, 2, 0]);
  assert.equal(p.partition(utf8('21'), 3), partitionForKey(utf8('21'), 3));
  // round-robin state survives a change in partition count
  const q = new Partitioner(5);
  assert.equal(q.partition(null, 4), 1);
  assert.equal(q.partition(null, 4), 2);
});

test('partitionForStringKey equals partitionForKey of the UTF-8 bytes, ASCII or not', async () => {
  const { partitionForStringKey } = await import('../src/partitioner.ts');
  const keys = ['', 'a', 'ab', 'abc', 'abcd', 'hello world', 'ünïcödé', '日本語のキー', 'x'.repeat(300), '🦀crab'];
  for (const k of keys) {
    for (const n of [1, 7, 27, 1000]) assert.equal(partitionForStringKey(k, n), partitionForKey(new TextEncoder().encode(k), n), `${k} / ${n}`);
  }
});
