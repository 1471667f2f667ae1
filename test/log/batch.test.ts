import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch, readBatchHeader, decodeRecords, BATCH_HEADER_SIZE, ATTR_CONTROL } from '../../src/log/batch.ts';
import { crc32c } from '../../src/util/crc32c.ts';
import type { LogRecord } from '../../src/record.ts';

const b = (s: string) => Buffer.from(s);

test('crc32c matches the published check value', () => {
  assert.equal(crc32c(b('123456789')), 0xe3069283);
  // Continuing a CRC over two halves equals one pass over the whole.
  const all = b('hello, checksummed world');
  assert.equal(crc32c(all.subarray(10), 0, 14, crc32c(all.subarray(0, 10))), crc32c(all));
});

test('a batch round-trips keys, values, nulls, timestamps and headers', () => {
  const buf = encodeBatch(
    [
      { key: b('k1'), value: b('{"a":1}'), timestamp: 1000 },
      { key: null, value: b('v2'), timestamp: 999, headers: { trace: 'x', 'ünï': 'cödé' } },
      { key: b('k3'), value: null, timestamp: 1002 },
    ],
    { baseOffset: 2 ** 40, appendTime: 5000 },
  );
  const h = readBatchHeader(buf, 0, buf.length);
  assert.notEqual(typeof h, 'string');
  if (typeof h === 'string') return;
  assert.equal(h.size, buf.length);
  assert.equal(h.baseOffset, 2 ** 40);
  assert.equal(h.lastOffsetDelta, 2);
  assert.equal(h.recordCount, 3);
  assert.equal(h.firstTimestamp, 1000);
  assert.equal(h.maxTimestamp, 1002);
  assert.equal(h.appendTime, 5000);
  assert.equal(h.producerId, -1);
  const out: LogRecord[] = [];
  decodeRecords(buf, 0, h, 0, out, Infinity);
  assert.deepEqual(
    out.map((r) => ({ o: r.offset, t: r.timestamp, k: r.key && Buffer.from(r.key).toString(), v: r.value && Buffer.from(r.value).toString(), h: r.headers })),
    [
      { o: 2 ** 40, t: 1000, k: 'k1', v: '{"a":1}', h: {} },
      { o: 2 ** 40 + 1, t: 999, k: null, v: 'v2', h: { trace: 'x', 'ünï': 'cödé' } },
      { o: 2 ** 40 + 2, t: 1002, k: 'k3', v: null, h: {} },
    ],
  );
});

test('decodeRecords skips offsets below minOffset and honours the limit', () => {
  const recs = Array.from({ length: 10 }, (_, i) => ({ key: null, value: b(String(i)) }));
  const buf = encodeBatch(recs, { baseOffset: 100, appendTime: 1 });
  const h = readBatchHeader(buf, 0, buf.length);
  if (typeof h === 'string') assert.fail(h);
  const out: LogRecord[] = [];
  decodeRecords(buf, 0, h, 104, out, 3);
  assert.deepEqual(out.map((r) => r.offset), [104, 105, 106]);
});

test('offset deltas with gaps and producer stamps survive encoding', () => {
  const buf = encodeBatch([{ key: b('a'), value: b('1') }, { key: b('b'), value: b('2') }], {
    baseOffset: 10,
    appendTime: 7,
    offsetDeltas: [3, 9],
    attributes: ATTR_CONTROL,
    producer: { producerId: 77, producerEpoch: 3, baseSequence: 12 },
  });
  const h = readBatchHeader(buf, 0, buf.length);
  if (typeof h === 'string') assert.fail(h);
  assert.equal(h.lastOffsetDelta, 9);
  assert.equal(h.attributes, ATTR_CONTROL);
  assert.deepEqual([h.producerId, h.producerEpoch, h.baseSequence], [77, 3, 12]);
  const out: LogRecord[] = [];
  decodeRecords(buf, 0, h, 0, out, Infinity);
  assert.deepEqual(out.map((r) => r.offset), [13, 19]);
});

test('every single-byte corruption of a batch is detected', () => {
  const buf = encodeBatch([{ key: b('key'), value: b('value'), headers: { h: 'v' } }], { baseOffset: 0, appendTime: 1 });
  for (let i = 0; i < buf.length; i++) {
    const bad = Buffer.from(buf);
    bad[i]! ^= 0x40;
    const h = readBatchHeader(bad, 0, bad.length);
    assert.equal(typeof h, 'string', `flip at byte ${i} went unnoticed`);
  }
});

test('short buffers and bad lengths are reported, not decoded', () => {
  const buf = encodeBatch([{ key: null, value: b('x'.repeat(50)) }], { baseOffset: 0, appendTime: 1 });
  assert.equal(readBatchHeader(buf, 0, 10), 'short');
  assert.equal(readBatchHeader(buf, 0, buf.length - 1), 'short');
  const zero = Buffer.alloc(BATCH_HEADER_SIZE + 10);
  assert.equal(readBatchHeader(zero, 0, zero.length), 'length');
});

test('crc32c gives the same answer at every alignment and length (word loop vs byte loop)', () => {
  const data = Buffer.alloc(300);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  // Reference: the plain bitwise definition.
  const ref = (u: Uint8Array) => {
    let c = ~0;
    for (const byte of u) {
      c ^= byte;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return ~c >>> 0;
  };
  for (let start = 0; start < 9; start++) {
    for (const len of [0, 1, 3, 15, 16, 17, 31, 64, 100, 255]) {
      const slice = data.subarray(start, start + len);
      assert.equal(crc32c(slice), ref(slice), `start ${start} len ${len}`);
      assert.equal(crc32c(data, start, start + len), ref(slice), `range start ${start} len ${len}`);
    }
  }
});
