import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchQueue, LengthPrefixedDecoder, LineDecoder, encodeFrames, encodeLines, encodeRaw } from '../../src/connectors/framing.ts';
import { isSluiceError } from '../../src/errors.ts';
import { frame, text, utf8 } from './helpers.ts';

function decodeAll(d: LengthPrefixedDecoder | LineDecoder, chunks: Buffer[], end = false): [string, number][] {
  const out: [string, number][] = [];
  const emit = (b: Buffer, n: number) => out.push([b.toString(), n]);
  for (const c of chunks) d.push(c, emit);
  if (end) d.end(emit);
  return out;
}

test('length-prefixed: frames split byte by byte, many per chunk, zero-length, numbered from 1', () => {
  const payloads = ['hello', '', 'x'.repeat(70_000), 'wörld', ''];
  const stream = Buffer.concat(payloads.map((p) => frame(p)));
  const want = payloads.map((p, i) => [p, i + 1]);
  // One chunk holding every frame.
  assert.deepEqual(decodeAll(new LengthPrefixedDecoder(), [stream]), want);
  // One byte per chunk.
  const bytes = [...stream].map((b) => Buffer.from([b]));
  assert.deepEqual(decodeAll(new LengthPrefixedDecoder(), bytes), want);
  // Cuts at every awkward place: inside headers, at boundaries.
  for (const size of [3, 4, 5, 7, 4096]) {
    const chunks = [];
    for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
    assert.deepEqual(decodeAll(new LengthPrefixedDecoder(), chunks), want, `chunk size ${size}`);
  }
});

test('length-prefixed: an incomplete frame is held as partial bytes, not emitted', () => {
  const d = new LengthPrefixedDecoder();
  const f = frame('abcdef');
  assert.deepEqual(decodeAll(d, [f.subarray(0, 7)]), []);
  assert.equal(d.partialBytes, 3);
  assert.deepEqual(decodeAll(d, [f.subarray(7)]), [['abcdef', 1]]);
  assert.equal(d.partialBytes, 0);
});

test('length-prefixed: a frame over the limit fails with TOO_LARGE from its header alone', () => {
  const d = new LengthPrefixedDecoder(10);
  const out: string[] = [];
  d.push(frame('0123456789'), (b) => out.push(b.toString()));
  assert.deepEqual(out, ['0123456789']);
  assert.throws(
    () => d.push(frame('x'.repeat(11)).subarray(0, 4), () => {}),
    (e) => isSluiceError(e, 'TOO_LARGE') && /frame 2 declares 11 bytes.*limit of 10/.test(e.message),
  );
});

test('lines: split across chunks, CRLF, empty lines numbered, last line without newline on end()', () => {
  const d = new LineDecoder();
  const out = decodeAll(d, [utf8('a\r\nb'), utf8('c\n\n'), utf8('d'), utf8('e')], true);
  assert.deepEqual(out, [['a', 1], ['bc', 2], ['', 3], ['de', 4]]);
  assert.throws(() => new LineDecoder(4).push(utf8('12345'), () => {}), (e) => isSluiceError(e, 'TOO_LARGE'));
});

test('BatchQueue: runs per origin with consecutive positions; shift splits at max keeping positions exact', () => {
  const q = new BatchQueue();
  for (const n of [1, 2, 3]) q.push('a', n, utf8(`a${n}`), 0);
  q.push('b', 1, utf8('b1'), 0);
  q.push('a', 5, utf8('a5'), 0); // a gap (a skipped blank line): a new run
  assert.equal(q.records, 5);
  const got = [];
  for (let s = q.shift(2); s !== null; s = q.shift(2)) got.push([s.batch.origin, s.batch.position, s.batch.records.map((r) => text(r.value))]);
  assert.deepEqual(got, [
    ['a', 1, ['a1', 'a2']],
    ['a', 3, ['a3']],
    ['b', 1, ['b1']],
    ['a', 5, ['a5']],
  ]);
  assert.equal(q.records, 0);
  assert.equal(q.bytes, 0);
});

test('encoders: newline added unless present, tombstones skipped, frames and raw', () => {
  const rs = [utf8('a'), utf8('b\n'), null, utf8('')].map((value) => ({ key: null, value, timestamp: 0 }));
  assert.equal(encodeLines(rs).toString(), 'a\nb\n\n');
  assert.deepEqual(encodeFrames(rs), Buffer.concat([frame('a'), frame('b\n'), frame('')]));
  assert.equal(encodeRaw(rs).toString(), 'ab\n');
});
