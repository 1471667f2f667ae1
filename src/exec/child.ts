// One running copy of the user's program: JSON lines in on stdin, JSON lines
// out on stdout, stderr passed through with a prefix. Writes wait for stdin to
// drain (a slow program slows its input); every stdout line must be JSON, or
// the program is declared broken with the offending line in the message.
//
// How a program failed is part of the error (`details.failure`): a program
// that cannot be started or that exits 0 before its input ends fails the same
// way on every restart, so it is not restarted; one that crashes, hangs or
// writes a line that is not JSON may be failing on one input (exec-job.ts
// then looks for it, poison.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { looksLikeJson } from './json-line.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';

/** Bytes queued for the program's stdin before a write waits (backpressure). */
const MAX_QUEUED = 1024 * 1024;

export type ChildFailure = 'spawn' | 'early-exit' | 'crash' | 'not-json' | 'hang';

export function failureOf(e: unknown): ChildFailure | undefined {
  return e instanceof SluiceError ? (e.details['failure'] as ChildFailure | undefined) : undefined;
}

export interface ChildOptions {
  command: string;
  args: string[];
  /** For messages and the stderr prefix: "job#instance". */
  label: string;
  /** Each stdout line (without its newline), already checked to be JSON. */
  onLine: (line: Uint8Array) => void;
  /** The program exited or broke; `error` says how. Called once. */
  onExit: (error: SluiceError | null) => void;
  /**
   * While the runtime waits on the program (for it to read its input, answer
   * a checkpoint, or exit), this long without it reading or writing anything
   * means it hangs: it is killed and reported. Default 60 s.
   */
  hangTimeoutMs?: number;
  /** Drop the program's stderr (the runs that look for an input it fails on). */
  quiet?: boolean;
}

export class Child {
  readonly label: string;
  private readonly proc: ChildProcess;
  private exited = false;
  private inputEnded = false;
  private brokenPipe = false;
  /** Killed by Sluice (stopping, or after reporting it broken): its exit is not a new failure. */
  private killed = false;
  private failure: SluiceError | null = null;
  private linesOut = 0;
  /**
   * Output lines still to drop without looking at them (blank lines aside): a
   * replay's first outputs, already committed. Counting newlines in the bytes
   * read costs nothing per line; a program that speaks --protocol has its
   * control lines told apart instead (Instance.discard).
   */
  skip = 0;
  private readonly exitPromise: Promise<SluiceError | null>;
  private lastActivity = Date.now();
  private readonly hangTimeoutMs: number;
  private waiting = 0;
  private watchdog: NodeJS.Timeout | null = null;

  constructor(o: ChildOptions) {
    this.label = o.label;
    this.hangTimeoutMs = o.hangTimeoutMs ?? 60_000;
    // Python block-buffers stdout into a pipe: print() lines would reach Sluice only by the 8 KiB,
    // so a quiet follow-mode job would commit nothing for a long time (docs/exec.md, other languages).
    this.proc = spawn(o.command, o.args, { stdio: ['pipe', 'pipe', 'pipe'], env: { PYTHONUNBUFFERED: '1', ...process.env } });
    let settle!: (e: SluiceError | null) => void;
    this.exitPromise = new Promise((r) => (settle = r));
    const finish = (e: SluiceError | null) => {
      if (this.exited) return;
      this.exited = true;
      this.failure ??= e;
      settle(this.failure);
      o.onExit(this.failure);
    };
    this.proc.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? 'command not found' : e.code === 'EACCES' ? 'permission denied (is it executable?)' : e.message;
      finish(new SluiceError(ErrorCodes.EXEC_FAILED, `${o.label}: cannot run ${o.command}: ${why}`, { command: o.command, failure: 'spawn' }, { cause: e }));
    });
    // EPIPE: the program closed its stdin (exited) with input still coming: reported at 'close'.
    this.proc.stdin!.on('error', () => (this.brokenPipe = true));
    this.proc.stdout!.on('data', () => (this.lastActivity = Date.now()));
    this.proc.stdin!.on('drain', () => (this.lastActivity = Date.now()));
    // Lines are split as bytes and handed on as views of the chunks read: no strings, no copies.
    let partial: Buffer | null = null;
    const handle = (line: Uint8Array) => {
      if (this.failure) return;
      this.linesOut++;
      if (line.length === 0 || (line.length === 1 && line[0] === 0x0d)) return;
      const end = line[line.length - 1] === 0x0d ? line.subarray(0, line.length - 1) : line;
      if (!looksLikeJson(end)) {
        const text = Buffer.from(end).toString('utf8');
        this.failure = new SluiceError(
          ErrorCodes.EXEC_FAILED,
          `${o.label}: output line ${this.linesOut} is not JSON: ${JSON.stringify(text.length > 200 ? text.slice(0, 200) + '…' : text)}. Every line the program writes to stdout must be one JSON value.`,
          { line: this.linesOut, failure: 'not-json' },
        );
        this.kill();
        return;
      }
      o.onLine(end);
    };
    // Lines already committed (the first outputs of a replay) are only counted, in the raw bytes.
    const lineAt = (buf: Buffer, start: number, end: number) => {
      if (this.skip === 0) return handle(buf.subarray(start, end));
      this.linesOut++;
      if (end > start && !(end === start + 1 && buf[start] === 0x0d)) this.skip--;
    };
    this.proc.stdout!.on('data', (chunk: Buffer) => {
      let start = 0;
      if (partial) {
        // Only the line cut at the end of the last chunk is copied, not the whole chunk.
        const nl = chunk.indexOf(0x0a);
        if (nl === -1) {
          partial = Buffer.concat([partial, chunk]);
          return;
        }
        const line = Buffer.concat([partial, chunk.subarray(0, nl)]);
        partial = null;
        lineAt(line, 0, line.length);
        start = nl + 1;
      }
      for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
        lineAt(chunk, start, nl);
        start = nl + 1;
      }
      if (start < chunk.length) partial = chunk.subarray(start);
    });
    // A last line without a newline counts only if the program exited 0: one killed mid-line left it cut off.
    let last: Buffer | null = null;
    this.proc.stdout!.on('end', () => {
      last = partial;
      partial = null;
    });
    if (o.quiet) this.proc.stderr!.resume();
    else createInterface({ input: this.proc.stderr!, crlfDelay: Infinity }).on('line', (line) => process.stderr.write(`[${o.label}] ${line}\n`));
    // 'close' comes after stdout has ended, so every output line was seen before onExit.
    this.proc.on('close', (code, signal) => {
      if (this.killed) return finish(null);
      if (code === 0) {
        if (last && last.length > 0) lineAt(last, 0, last.length);
        if ((this.inputEnded && !this.brokenPipe) || this.failure) return finish(null);
        return finish(
          new SluiceError(
            ErrorCodes.EXEC_FAILED,
            `${o.label}: the program exited (code 0) before reading all its input: it must read stdin until it closes`,
            { code, failure: 'early-exit' },
          ),
        );
      }
      finish(new SluiceError(ErrorCodes.EXEC_FAILED, `${o.label}: the program ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`, { code, signal, failure: 'crash' }));
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get hasExited(): boolean {
    return this.exited;
  }

  /**
   * Writes lines to the program; resolves when it may be given more. `paced`:
   * wait until the pipe itself has room (replay, so its progress follows what
   * the program has read, not what is queued for it).
   */
  async write(lines: string | Uint8Array, paced = false): Promise<void> {
    if (this.exited) throw this.failure ?? new SluiceError(ErrorCodes.EXEC_FAILED, `${this.label}: the program has exited`);
    const stdin = this.proc.stdin!;
    // Keep up to MAX_QUEUED bytes queued beyond the pipe: the program then never waits for its
    // next input while the runtime is busy elsewhere (the pipe itself holds only 64 KiB).
    if (stdin.write(lines) || (!paced && stdin.writableLength < MAX_QUEUED)) return;
    await this.watched(
      new Promise<void>((resolve) => {
        const done = () => {
          stdin.off('drain', done);
          this.proc.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        this.proc.on('close', done);
      }),
    );
    if (this.exited && this.failure) throw this.failure;
  }

  /** Runs the hang watchdog while `p` is pending: the runtime is waiting on the program. */
  async watched<T>(p: Promise<T>): Promise<T> {
    this.waiting++;
    this.lastActivity = Math.max(this.lastActivity, Date.now() - 1);
    this.watchdog ??= setInterval(() => {
      if (this.exited || Date.now() - this.lastActivity < this.hangTimeoutMs) return;
      this.failure ??= new SluiceError(
        ErrorCodes.EXEC_FAILED,
        `${this.label}: the program hangs: it read no input and wrote no output for ${Math.round(this.hangTimeoutMs / 1000)} s while Sluice waited on it (last output line ${this.linesOut}); killed`,
        { line: this.linesOut, failure: 'hang' },
      );
      this.kill();
    }, Math.min(1000, this.hangTimeoutMs));
    try {
      return await p;
    } finally {
      if (--this.waiting === 0 && this.watchdog) {
        clearInterval(this.watchdog);
        this.watchdog = null;
      }
    }
  }

  /** Closes stdin (end of input) and waits for the program to exit. */
  async end(): Promise<SluiceError | null> {
    this.inputEnded = true;
    if (!this.exited) this.proc.stdin!.end();
    return this.watched(this.exitPromise);
  }

  /** Resolves when the program exits, with its failure if it failed. */
  waitForExit(): Promise<SluiceError | null> {
    return this.exitPromise;
  }

  kill(): void {
    this.killed = true;
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}
