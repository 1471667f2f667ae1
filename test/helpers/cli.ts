// Runs the real, built CLI (dist/cli/main.js) as a child process: what a user
// runs is what the end-to-end tests run. `npm test` builds first.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Sets SLUICE_DATA_DIR (so tests exercise the env var; --data-dir in args overrides it). */
  dataDir: string;
  input?: string | Buffer;
  env?: Record<string, string>;
  timeoutMs?: number;
}

function checkBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it)`);
}

/** Starts the CLI and leaves it running (for --follow tests). */
export function spawnCli(args: string[], o: CliOptions): ChildProcessWithoutNullStreams {
  checkBuilt();
  return spawn(process.execPath, [CLI, ...args], {
    // Progress lines come by the clock: off unless a test asks (SLUICE_PROGRESS_MS in o.env).
    env: { ...process.env, SLUICE_DEBUG: '', SLUICE_PROGRESS_MS: '0', ...o.env, SLUICE_DATA_DIR: o.dataDir },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Collects a child's output until it exits. */
export function finished(child: ChildProcessWithoutNullStreams, timeoutMs = 60_000): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sluice did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `sluice ...args` with `input` on stdin; resolves with exit code and output. */
export function runCli(args: string[], o: CliOptions): Promise<CliResult> {
  const child = spawnCli(args, o);
  const done = finished(child, o.timeoutMs);
  // The CLI may exit before reading all input (a bad line); that EPIPE is expected.
  child.stdin.on('error', () => {});
  child.stdin.end(o.input ?? '');
  return done;
}

/** Non-empty stdout lines parsed as JSON. */
export function jsonLines(stdout: string): unknown[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);
}
