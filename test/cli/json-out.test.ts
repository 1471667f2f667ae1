import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderKey, renderRecords, renderValue } from '../../src/log/record-json.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

test('renderValue keeps single-line JSON as stored (no precision loss)', () => {
  assert.equal(renderValue(utf8('{"big":12345678901234567890}')).json, '{"big":12345678901234567890}');
  assert.equal(renderValue(null).json, 'null');
});

test('renderValue puts multi-line JSON on one line and quotes non-JSON', () => {
  assert.equal(renderValue(utf8('{\n "a": 1\n}')).json, '{"a":1}');
  assert.equal(renderValue(utf8('hello "world"')).json, '"hello \\"world\\""');
  const b = renderValue(new Uint8Array([0xff]));
  assert.deepEqual(b, { json: '"/w=="', base64: true });
});

test('renderKey and renderRecords', () => {
  assert.equal(renderKey(utf8('k1')).json, '"k1"');
  const line = renderRecords(
    [{ topic: 't', partition: 1, offset: 2, key: utf8('k'), timestamp: 3, headers: { a: 'b' }, value: utf8('[1]') }],
    true,
  );
  assert.deepEqual(JSON.parse(line), { topic: 't', partition: 1, offset: 2, key: 'k', timestamp: 3, headers: { a: 'b' }, value: [1] });
  assert.ok(line.endsWith('}\n'));
});
