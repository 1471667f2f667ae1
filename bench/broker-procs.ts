// The two servers of the broker benchmark, each in a process of its own, as
// they run in production: `sluice serve` (the built CLI) and `nats-server -js`.
// Both are started on a fresh data dir, watched for their "ready" line on
// stderr, and stopped with SIGTERM (graceful) at the end.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

export interface ServerProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Resolves with the first match of `pattern` in the child's stderr; rejects if it exits first or takes too long. */
function waitForLine(child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 20_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => done(new Error(`${what} did not start within ${timeoutMs} ms; its output:\n${seen}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      const m = pattern.exec(seen);
      if (m) done(null, m);
    };
    const onExit = (code: number | null) => done(new Error(`${what} exited (${code}) before it was ready; its output:\n${seen}`));
    const done = (e: Error | null, m?: RegExpExecArray) => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
      if (e) reject(e);
      else resolve(m!);
    };
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const hard = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', () => {
        clearTimeout(hard);
        resolve();
      });
      child.kill('SIGTERM');
    });
}

/**
 * `node dist/cli/main.js serve --data-dir DIR --listen 127.0.0.1:0 --no-http`; the URL
 * (with the port the OS picked) comes from its `sluice serve: ... on sluice://HOST:PORT` line.
 * `nodeArgs` e.g. `--cpu-prof` to profile the broker.
 */
export async function startSluiceBroker(dataDir: string, nodeArgs: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--no-http'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const m = await waitForLine(child, /sluice serve: .* on (sluice:\/\/[^\s,]+)/, 'sluice serve');
  // Keep draining stderr so a chatty broker can never block on a full pipe.
  child.stderr!.resume();
  return { url: m[1]!, pid: child.pid!, stop: stopper(child) };
}

/** The nats-server on the PATH and its version, or null if there is none. */
export function natsServerVersion(): string | null {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** A TCP port that was free a moment ago (nats-server needs a number; it prints no port-0 address we could parse reliably). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** `nats-server -js -sd DIR -a 127.0.0.1 -p PORT`: JetStream with file storage under DIR, defaults otherwise. */
export async function startNatsServer(storeDir: string): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn('nats-server', ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  await waitForLine(child, /Server is ready/, 'nats-server');
  child.stderr!.resume();
  return { url: `nats://127.0.0.1:${port}`, pid: child.pid!, stop: stopper(child) };
}
