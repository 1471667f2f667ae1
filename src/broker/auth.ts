// Token checks for the broker's TCP protocol and HTTP API. Both sides are
// hashed first so the comparison takes the same time whatever the lengths,
// and timingSafeEqual does not leak how many leading bytes matched.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ErrorCodes, SluiceError } from '../errors.ts';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** A checker for `token`; with no token configured, everything is allowed (loopback only: see broker.ts). */
export function tokenChecker(token: string | undefined): (presented: string | undefined) => boolean {
  if (token === undefined) return () => true;
  const want = digest(token);
  return (presented) => presented !== undefined && timingSafeEqual(digest(presented), want);
}

/** A token given directly, or read from a file (first line, trimmed). */
export function resolveToken(token: string | undefined, tokenFile: string | undefined): string | undefined {
  if (token !== undefined && tokenFile !== undefined) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'give --auth-token or --auth-token-file, not both');
  if (tokenFile === undefined) return token;
  let text: string;
  try {
    text = readFileSync(tokenFile, 'utf8');
  } catch (e) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `cannot read the token file ${tokenFile}: ${(e as Error).message}`, { file: tokenFile }, { cause: e });
  }
  const t = text.split('\n')[0]!.trim();
  if (t === '') throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `the token file ${tokenFile} is empty`, { file: tokenFile });
  return t;
}
