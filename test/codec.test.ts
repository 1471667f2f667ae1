import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, json, text } from '../src/codec.ts';
import { isSluiceError } from '../src/errors.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

test('json round-trips values', () => {
  for (const v of [{ a: 1, b: [true, 'x'] }, 'text', 0, 1.5, false, [], {}]) {
    assert.deepEqual(json.decode(json.encode(v)), v);
  }
  assert.deepEqual(new Uint8Array(json.encode({ a: 1 })!), utf8('{"a":1}'));
});

test('json null is a tombstone', () => {
  assert.equal(json.encode(null), null);
  assert.equal(json.decode(null), null);
});

test('json decode of invalid JSON throws BAD_INPUT with a preview', () => {
  assert.throws(
    () => json.decode(utf8('{"a":')),
    (e) => isSluiceError(e, 'BAD_INPUT') && /not valid JSON/.test(e.message) && e.message.includes('{\\"a\\":'),
  );
});

test('json decode of invalid UTF-8 throws BAD_INPUT', () => {
  assert.throws(() => json.decode(new Uint8Array([0x22, 0xff, 0x22])), (e) => isSluiceError(e, 'BAD_INPUT') && /UTF-8/.test(e.message));
});

test('json encode of an unrepresentable value throws BAD_INPUT', () => {
  assert.throws(() => json.encode(() => 1), (e) => isSluiceError(e, 'BAD_INPUT'));
});

test('text.nullable: utf8, a tombstone is null, the empty string is not', () => {
  const c = text.nullable;
  assert.equal(c.decode(c.encode('héllo ✓')), 'héllo ✓');
  assert.deepEqual(new Uint8Array(c.encode('')!), new Uint8Array(0));
  assert.equal(c.decode(new Uint8Array(0)), '');
  assert.equal(c.encode(null), null);
  assert.equal(c.decode(null), null);
  assert.throws(() => c.decode(new Uint8Array([0xc3])), (e) => isSluiceError(e, 'BAD_INPUT'));
});

test('text refuses a tombstone, naming text.nullable', () => {
  assert.equal(text.decode(text.encode('héllo ✓')), 'héllo ✓');
  assert.throws(() => text.decode(null), (e) => isSluiceError(e, 'BAD_INPUT') && /text\.nullable/.test(e.message));
});

test('json<T>() is the json codec, typed', () => {
  const c = json<{ a: number }>();
  assert.deepEqual(c.decode(c.encode({ a: 1 })), { a: 1 });
  assert.equal(c.encode, json.encode);
});

test('bytes codec passes through', () => {
  const b = new Uint8Array([0, 1, 255]);
  assert.equal(bytes.encode(b), b);
  assert.equal(bytes.decode(b), b);
  assert.equal(bytes.decode(null), null);
});
