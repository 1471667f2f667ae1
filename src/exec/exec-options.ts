// The options of an exec job (`sluice exec` flags, or the API), their
// defaults, and the names of the topics a job owns.

import type { Log } from '../log/log.ts';
import { DEFAULT_COMMIT_INTERVAL_MS } from '../runtime/defaults.ts';

export type ExecMode = 'replay' | 'stateless' | 'protocol';

/**
 * What to do with an input the program fails on every time (it crashes, or
 * writes a line that is not JSON, when fed that input): stop naming it, pass
 * over it, or pass over it and write it to `<job>-dead-letters`.
 */
export type OnError = 'fail' | 'skip' | 'dead-letter';

export interface ExecOptions {
  log: Log;
  job: string;
  inputs: string[];
  output: string;
  command: string;
  args: string[];
  mode?: ExecMode;
  instances?: number;
  /** With instances > 1: the input field whose hash picks the instance. */
  partitionBy?: string;
  /** The output record key: this field of each output line. */
  outputKeyField?: string;
  /** Feed `{topic, partition, offset, key, timestamp, headers, value}` instead of the value. */
  withMeta?: boolean;
  untilEnd?: boolean;
  signal?: AbortSignal;
  commitIntervalMs?: number;
  /** Restarts of a failing program (with backoff) before the job gives up. */
  maxRestarts?: number;
  /** A program the runtime waits on that reads and writes nothing this long hangs: killed, restarted. */
  hangTimeoutMs?: number;
  onError?: OnError;
  /** Progress lines (replay) go here; default stderr. */
  progress?: (line: string) => void;
  /** A replay progress bar (carriage returns): only for a terminal. Default: whether stderr is one. */
  progressBar?: boolean;
}

export type ResolvedExecOptions = Required<Omit<ExecOptions, 'partitionBy' | 'outputKeyField' | 'signal'>> & Pick<ExecOptions, 'partitionBy' | 'outputKeyField' | 'signal'>;

export function resolveExecOptions(options: ExecOptions): ResolvedExecOptions {
  return {
    mode: 'replay',
    instances: 1,
    withMeta: false,
    untilEnd: false,
    // --stateless starts a process per checkpoint: ten times fewer of them.
    commitIntervalMs: options.mode === 'stateless' ? 10 * DEFAULT_COMMIT_INTERVAL_MS : DEFAULT_COMMIT_INTERVAL_MS,
    maxRestarts: 5,
    hangTimeoutMs: 60_000,
    onError: 'fail',
    progress: (line: string) => process.stderr.write(line),
    progressBar: process.stderr.isTTY === true,
    ...options,
  };
}

export interface ExecResult {
  /** Inputs committed by this run (journaled, or processed under --stateless). */
  inputs: number;
  outputs: number;
  checkpoints: number;
  restarts: number;
  /** Inputs the program failed on that were passed over (--on-error skip or dead-letter). */
  skipped: number;
}

export function journalTopic(job: string): string {
  return `${job}-journal`;
}

export function deadLetterTopic(job: string): string {
  return `${job}-dead-letters`;
}
