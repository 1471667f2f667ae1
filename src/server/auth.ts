// Token checks for the broker's TCP protocol and HTTP API. Both sides are
// hashed first so the comparison takes the same time whatever the lengths,
// and timingSafeEqual does not leak how many leading bytes matched.
//
// An empty token is never "no token": `--auth-token ""` (or an empty
// $SLUICE_TOKEN from a missing secret) would otherwise start a broker that
// either lets anyone in or silently runs without the token the user meant.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ErrorCodes, SluiceError } from '../errors.ts';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * `token` if it can be required of clients; `what` names where it came from. Whitespace is
 * refused too: an HTTP `Authorization: Bearer` header cannot carry it, so HTTP clients could never match.
 */
export function validToken(token: string, what: string): string {
  if (token.trim() === '') {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `${what} is empty: an empty token would let anyone in; give a non-empty token, or none at all to serve loopback only without one`);
  }
  if (/\s/.test(token)) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `${what} contains whitespace, which an HTTP "Authorization: Bearer" header cannot carry; use a token without spaces`);
  return token;
}

/** A checker for `token`; with no token configured, everything is allowed (loopback only: see broker.ts). */
export function tokenChecker(token: string | undefined): (presented: string | undefined) => boolean {
  if (token === undefined) return () => true;
  const want = digest(validToken(token, 'the token'));
  return (presented) => presented !== undefined && presented !== '' && timingSafeEqual(digest(presented), want);
}

/** Where `sluice serve` may take its token from; at most one of `token` and `tokenFile`. */
export interface TokenSources {
  token?: string;
  tokenFile?: string;
  /** $SLUICE_TOKEN, used when neither of the others is given. */
  env?: string;
}

/** A token given directly, read from a file (first line, trimmed), or from the environment. */
export function resolveToken(s: TokenSources): string | undefined {
  if (s.token !== undefined && s.tokenFile !== undefined) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, 'give --auth-token or --auth-token-file, not both');
  if (s.token !== undefined) return validToken(s.token, '--auth-token');
  if (s.tokenFile === undefined) {
    if (s.env === undefined) return undefined;
    if (s.env.trim() === '') {
      throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, '$SLUICE_TOKEN is set but empty: set it (or give --auth-token) to the token clients must present, or unset it to serve loopback only without one');
    }
    return validToken(s.env, '$SLUICE_TOKEN');
  }
  const file = s.tokenFile;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `cannot read the token file ${file}: ${(e as Error).message}`, { file }, { cause: e });
  }
  try {
    return validToken(text.split('\n')[0]!.trim(), `the token file ${file}`);
  } catch (e) {
    throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, (e as Error).message, { file });
  }
}
