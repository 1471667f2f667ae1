// What a user's key function may return, checked where the key is used: an
// `undefined` (a missing field, a forgotten `return`) must dead-letter with a
// message naming the operator and what came back, not Node's "The first
// argument must be of type string" from deep inside Buffer.from, nor turn
// silently into the key "undefined".

import { ErrorCodes, SluiceError } from '../../errors.ts';

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object (${v.constructor?.name ?? 'Object'})`;
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return `a ${typeof v}`;
}

/** A keyBy function's result: a string or a finite number (made a string). */
export function groupKey(operator: string, key: unknown): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' && Number.isFinite(key)) return String(key);
  throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `the key function of ${operator} returned ${describe(key)}; it must return a string or a number`, { operator, type: describe(key) });
}

/** A sink's `key` option's result: a string, bytes, or null (no key). */
export function recordKey(operator: string, key: unknown): string | Uint8Array | null {
  if (typeof key === 'string' || key === null || key instanceof Uint8Array) return key;
  throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `the key function of ${operator} returned ${describe(key)}; it must return a string, bytes (Uint8Array) or null`, { operator, type: describe(key) });
}
