// An error frame carries a SluiceError's code to the client. A failure the
// broker did not classify (a plain exception in a handler) travels as
// INTERNAL, a real code: the client gets a SluiceError it can branch on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorFrom, errorJson } from '../../src/protocol/frames.ts';
import { ErrorCodes, SluiceError, isSluiceError } from '../../src/errors.ts';

test('a SluiceError crosses the wire with its code, message and details', () => {
  const e = errorFrom(errorJson(new SluiceError('UNKNOWN_TOPIC', 'unknown topic t', { topic: 't' })));
  assert.ok(isSluiceError(e, 'UNKNOWN_TOPIC'));
  assert.equal(e.message, 'unknown topic t');
  assert.deepEqual(e.details, { topic: 't' });
});

test("a plain exception becomes INTERNAL, a code of ErrorCodes, naming the broker's log", () => {
  const wire = errorJson(new TypeError('x is undefined'));
  assert.equal(wire.code, ErrorCodes.INTERNAL);
  const e = errorFrom(wire);
  assert.ok(isSluiceError(e, 'INTERNAL'), `${e.name}: ${e.message}`);
  assert.match(e.message, /x is undefined/);
  assert.match(e.message, /broker's log/);
});
