// How failures leave the CLI: one line `sluice: <message>` on stderr and an exit
// code scripts can branch on. 2 = the command was wrong (bad flags, bad option
// values, unknown topic); 1 = it was right but failed (bad input data, I/O, lock
// held...). Stack traces only with SLUICE_DEBUG=1: messages are written to be
// enough on their own, also for errors that escape every await (installLastResort).

import { CommanderError } from 'commander';
import { isSluiceError } from '../errors.ts';
import { hintFor } from '../log/file/file-errors.ts';

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

function debugging(): boolean {
  return process.env['SLUICE_DEBUG'] === '1';
}

/** Prints the error (unless commander or the command already did) and returns the exit code. */
export function reportError(e: unknown): number {
  const code = exitCodeFor(e);
  if (e instanceof ExitError || e instanceof CommanderError) return code;
  process.stderr.write(`sluice: ${messageFor(e)}\n`);
  if (debugging() && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return code;
}

/** A system call's failure with a known remedy (ENOSPC, EMFILE...): the environment's fault, not a bug to report. */
function systemErrorMessage(e: unknown): string | undefined {
  const hint = hintFor((e as NodeJS.ErrnoException | undefined)?.code);
  return hint === undefined ? undefined : `${messageFor(e)} — ${hint}`;
}

/**
 * The last resort: an error nothing awaited (a timer's throw, a promise nobody
 * handles: in Sluice, a connector or an app file) would otherwise end the CLI
 * with Node's stack trace. A SluiceError was raised on purpose and its message
 * stands alone; anything else is a bug somewhere, said so in one line.
 */
export function installLastResort(): void {
  let handling = false;
  const handle = (e: unknown): void => {
    // A second escape while reporting the first: the first one's report is what matters.
    if (handling) return;
    handling = true;
    const code = e instanceof ExitError ? e.exitCode : exitCodeFor(e);
    if (!(e instanceof ExitError)) {
      const message = isSluiceError(e) ? e.message : systemErrorMessage(e) ?? `internal error: ${messageFor(e)} (please report; run with SLUICE_DEBUG=1 for the stack)`;
      process.stderr.write(`sluice: ${message}\n`);
      if (debugging() && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    }
    process.exitCode = code;
    process.stdout.write('', () => process.exit(code));
  };
  process.on('uncaughtException', handle);
  process.on('unhandledRejection', handle);
}
