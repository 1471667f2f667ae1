// How failures leave the CLI: one line `sluice: <message>` on stderr and an exit
// code scripts can branch on. 2 = the command was wrong (bad flags, bad option
// values, unknown topic); 1 = it was right but failed (bad input data, I/O, lock
// held...). Stack traces only with SLUICE_DEBUG=1: messages are written to be
// enough on their own.

import { CommanderError } from 'commander';
import { isSluiceError } from '../errors.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A failure already reported to the user; only its exit code is left to apply. */
export class ExitError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`exit ${exitCode}`);
    this.exitCode = exitCode;
  }
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof ExitError) return e.exitCode;
  // --help and --version arrive as CommanderErrors with exit code 0.
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  if (isSluiceError(e, 'INVALID_ARGUMENT') || isSluiceError(e, 'UNKNOWN_TOPIC') || isSluiceError(e, 'UNKNOWN_PARTITION')) return EXIT_USAGE;
  return EXIT_FAILURE;
}

export function messageFor(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Prints the error (unless commander or the command already did) and returns the exit code. */
export function reportError(e: unknown): number {
  const code = exitCodeFor(e);
  if (e instanceof ExitError || e instanceof CommanderError) return code;
  process.stderr.write(`sluice: ${messageFor(e)}\n`);
  if (process.env['SLUICE_DEBUG'] === '1' && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return code;
}
