// One running copy of the user's program: JSON lines in on stdin, JSON lines
// out on stdout, stderr passed through with a prefix. Writes wait for stdin to
// drain (a slow program slows its input); every stdout line must be JSON, or
// the program is declared broken with the offending line in the message.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ErrorCodes, SluiceError } from '../errors.ts';

export interface ChildOptions {
  command: string;
  args: string[];
  /** For messages and the stderr prefix: "job#instance". */
  label: string;
  /** Each stdout line, already checked to be JSON. */
  onLine: (line: string) => void;
  /** The program exited or broke; `error` says how. Called once. */
  onExit: (error: SluiceError | null) => void;
  /**
   * While the runtime waits on the program (for it to read its input, answer
   * a checkpoint, or exit), this long without it reading or writing anything
   * means it hangs: it is killed and reported. Default 60 s.
   */
  hangTimeoutMs?: number;
}

export class Child {
  readonly label: string;
  private readonly proc: ChildProcess;
  private exited = false;
  private failure: SluiceError | null = null;
  private linesOut = 0;
  private readonly exitPromise: Promise<SluiceError | null>;
  private lastActivity = Date.now();
  private readonly hangTimeoutMs: number;
  private waiting = 0;
  private watchdog: NodeJS.Timeout | null = null;

  constructor(o: ChildOptions) {
    this.label = o.label;
    this.hangTimeoutMs = o.hangTimeoutMs ?? 60_000;
    this.proc = spawn(o.command, o.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let settle!: (e: SluiceError | null) => void;
    this.exitPromise = new Promise((r) => (settle = r));
    const finish = (e: SluiceError | null) => {
      if (this.exited) return;
      this.exited = true;
      this.failure ??= e;
      settle(this.failure);
      o.onExit(this.failure);
    };
    this.proc.on('error', (e) =>
      finish(new SluiceError(ErrorCodes.EXEC_FAILED, `${o.label}: cannot run ${o.command}: ${e.message}`, { command: o.command }, { cause: e })),
    );
    this.proc.stdin!.on('error', () => {}); // EPIPE when the program exits early: reported by 'exit'
    this.proc.stdout!.on('data', () => (this.lastActivity = Date.now()));
    this.proc.stdin!.on('drain', () => (this.lastActivity = Date.now()));
    const out = createInterface({ input: this.proc.stdout!, crlfDelay: Infinity });
    out.on('line', (line) => {
      if (this.failure) return;
      this.linesOut++;
      if (line.trim() === '') return;
      try {
        JSON.parse(line);
      } catch {
        this.failure = new SluiceError(
          ErrorCodes.EXEC_FAILED,
          `${o.label}: output line ${this.linesOut} is not JSON: ${JSON.stringify(line.length > 200 ? line.slice(0, 200) + '…' : line)}. Every line the program writes to stdout must be one JSON value.`,
          { line: this.linesOut },
        );
        this.kill();
        return;
      }
      o.onLine(line);
    });
    const err = createInterface({ input: this.proc.stderr!, crlfDelay: Infinity });
    err.on('line', (line) => process.stderr.write(`[${o.label}] ${line}\n`));
    // 'close' comes after stdout has ended, so every output line was seen before onExit.
    this.proc.on('close', (code, signal) => {
      if (code === 0) return finish(null);
      finish(new SluiceError(ErrorCodes.EXEC_FAILED, `${o.label}: the program ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`, { code, signal }));
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get hasExited(): boolean {
    return this.exited;
  }

  /** Writes lines to the program; resolves when its stdin pipe has room again. */
  async write(lines: string | Uint8Array): Promise<void> {
    if (this.exited) throw this.failure ?? new SluiceError(ErrorCodes.EXEC_FAILED, `${this.label}: the program has exited`);
    const stdin = this.proc.stdin!;
    if (stdin.write(lines)) return;
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
        { line: this.linesOut },
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
    if (!this.exited) this.proc.stdin!.end();
    return this.watched(this.exitPromise);
  }

  /** Resolves when the program exits, with its failure if it failed. */
  waitForExit(): Promise<SluiceError | null> {
    return this.exitPromise;
  }

  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}
