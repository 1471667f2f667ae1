// Progress of a long command (`sluice run` on a backlog, `sluice produce` of
// millions of lines) on stderr: on a terminal one line rewritten in place
// (carriage return) a few times a second; otherwise (a log file, a pipe, a
// service manager) one plain line every few seconds, so logs stay readable.
// Nothing for a command that finishes before the first interval. Off with
// --quiet; SLUICE_PROGRESS_MS sets the interval (0: off).

const TERMINAL_MS = 500;
const PLAIN_MS = 5000;

/** How often progress is shown: 0 for never (--quiet, SLUICE_PROGRESS_MS=0). */
export function progressIntervalMs(quiet = false): number {
  if (quiet) return 0;
  const env = process.env['SLUICE_PROGRESS_MS'];
  if (env !== undefined && env !== '' && Number.isFinite(Number(env))) return Math.max(0, Number(env));
  return process.stderr.isTTY === true ? TERMINAL_MS : PLAIN_MS;
}

export class Progress {
  readonly #tty: boolean;
  readonly #timer: NodeJS.Timeout | null;
  #shown = false;

  /** `line` is asked for the text each time (one line, no newline). */
  constructor(line: () => string, quiet = false) {
    this.#tty = process.stderr.isTTY === true;
    const ms = progressIntervalMs(quiet);
    this.#timer = ms <= 0 ? null : setInterval(() => this.#show(line()), ms);
    this.#timer?.unref();
  }

  #show(text: string): void {
    if (this.#tty) process.stderr.write(`\r${text}\x1b[K`);
    else process.stderr.write(`${text}\n`);
    this.#shown = true;
  }

  /** Stops; on a terminal, clears the line so what follows starts on a clean one. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#tty && this.#shown) process.stderr.write('\r\x1b[K');
    this.#shown = false;
  }
}

/** Events per second since `startedMs`, rounded. */
export function rate(count: number, startedMs: number): number {
  const secs = (Date.now() - startedMs) / 1000;
  return secs <= 0 ? 0 : Math.round(count / secs);
}
