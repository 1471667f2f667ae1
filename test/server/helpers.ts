// Processes for the broker's multi-process tests: the real built CLI
// (`sluice serve`, what users run) on a free loopback port, child programs
// run with tsx that report in JSON lines on stdout, and a raw protocol
// connection for talking to the broker below the client library.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI } from '../helpers/cli.ts';
import { FrameReader, KIND_REQUEST, REQUEST_TYPES, encodeFrame, type Frame, type RequestName } from '../../src/protocol/frames.ts';
import type { ProducerRecord } from '../../src/record.ts';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a value other than undefined/false, or fails after `timeoutMs` naming `what`. */
export async function waitUntil<T>(what: string, timeoutMs: number, fn: () => T | undefined | false | Promise<T | undefined | false>, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Record `i` of producer `name` (broker-child-producer.ts): its id is its key, and the value says it again, padded. */
export function producedRecord(name: string, i: number): ProducerRecord {
  const id = `${name}-${i}`;
  return { key: Buffer.from(id), value: Buffer.from(JSON.stringify({ id, pad: 'x'.repeat((i * 37) % 200) })), headers: { producer: name } };
}

export interface Scope {
  /** A fresh temp dir, removed after everything deferred has run. */
  dir(prefix?: string): string;
  /** Runs after the test, latest first: stop processes before their data dirs go. */
  defer(fn: () => unknown): void;
}

export function scope(t: TestContext): Scope {
  const dirs: string[] = [];
  const fns: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  return {
    dir: (prefix = 'sluice-broker-') => {
      const d = fs.mkdtempSync(join(os.tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    defer: (fn) => void fns.push(fn),
  };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** `sluice serve` as a child process. */
export class BrokerProcess {
  readonly child: ChildProcess;
  readonly dataDir: string;
  readonly url: string;
  readonly port: number;
  readonly exited: Promise<Exit>;
  private readonly err: { text: string };

  constructor(child: ChildProcess, dataDir: string, url: string, err: { text: string }, exited: Promise<Exit>) {
    this.child = child;
    this.dataDir = dataDir;
    this.url = url;
    this.port = Number(/:(\d+)$/.exec(url)![1]);
    this.err = err;
    this.exited = exited;
  }

  get stderr(): string {
    return this.err.text;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `signal` (SIGKILL: a crash; SIGTERM: a graceful stop) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }
}

export interface BrokerStart {
  /** Listen on this port (a restart); default 0: a free one. */
  port?: number;
  args?: string[];
  timeoutMs?: number;
}

/**
 * Starts `sluice serve --listen 127.0.0.1:PORT --no-http` on `dataDir` and
 * resolves once it prints its address. A restart on a port that is not free
 * yet is retried for a few seconds.
 */
export async function startBroker(dataDir: string, o: BrokerStart = {}): Promise<BrokerProcess> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\``);
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  for (;;) {
    // No $SLUICE_TOKEN from the test's environment: serve refuses an empty one, and a set one would apply.
    const { SLUICE_TOKEN: _ignored, ...env } = process.env;
    const child = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${o.port ?? 0}`, '--no-http', ...(o.args ?? [])], {
      env: { ...env, SLUICE_DEBUG: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const err = { text: '' };
    const exited = exitOf(child);
    child.stderr!.setEncoding('utf8');
    const url = await new Promise<string | null>((resolve) => {
      child.stderr!.on('data', (s: string) => {
        err.text += s;
        const m = /^sluice serve: .* on (sluices?:\/\/[^\s,]+)/m.exec(err.text);
        if (m) resolve(m[1]!);
      });
      void exited.then(() => resolve(null));
    });
    if (url !== null) return new BrokerProcess(child, dataDir, url, err, exited);
    if (/EADDRINUSE/.test(err.text) && Date.now() < deadline) {
      await sleep(100);
      continue;
    }
    throw new Error(`sluice serve did not start (${JSON.stringify(await exited)}): ${err.text}`);
  }
}

/** Resolves at the next call of a waiter in `waiters` (new output), or after `ms`. */
function nextWake(waiters: Set<() => void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      waiters.delete(done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    waiters.add(done);
  });
}

/** A child program (run with tsx) that prints one JSON object per line on stdout. */
export class ChildLines {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  readonly exited: Promise<Exit>;
  readonly name: string;
  private err = '';
  private waiters = new Set<() => void>();

  constructor(file: URL, args: string[], name = args.join(' ')) {
    this.name = name;
    this.child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(file), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = exitOf(this.child);
    let buf = '';
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (s: string) => {
      buf += s;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.err += `(not JSON on stdout) ${line}\n`;
        }
      }
      for (const w of this.waiters) w();
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (s: string) => (this.err += s));
    void this.exited.then(() => {
      for (const w of this.waiters) w();
    });
  }

  get stderr(): string {
    return this.err;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The first line (from index `from`) that satisfies `pred`; fails on timeout or if the child exits first. */
  async line(pred: (l: Record<string, unknown>) => boolean, timeoutMs = 20_000, from = 0): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (let i = from; ; ) {
      for (; i < this.lines.length; i++) if (pred(this.lines[i]!)) return this.lines[i]!;
      if (!this.alive) throw new Error(`${this.name} exited (${JSON.stringify(await this.exited)}) without the line wanted; stderr: ${this.err}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no such line within ${timeoutMs} ms; stderr: ${this.err}`);
      await nextWake(this.waiters, left);
    }
  }

  stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }
}

/** A protocol connection by hand: whatever bytes the test likes, and every frame the broker sends back. */
export class RawConn {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  /** Set when the broker's bytes do not parse as frames (a broker bug). */
  badReply: Error | null = null;
  closed = false;
  private readonly reader = new FrameReader();
  private waiters = new Set<() => void>();
  private nextId = 1;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      try {
        this.frames.push(...this.reader.push(chunk));
      } catch (e) {
        this.badReply = e as Error;
      }
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.setNoDelay(true);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawConn(s));
      });
      s.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  /** An id not used on this connection yet (ids from 1; 0 is the broker's "no request"). */
  id(): number {
    return this.nextId++;
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Sends a well-formed request; returns its id. */
  request(name: RequestName, json: unknown, blob?: Buffer): number {
    const id = this.id();
    this.write(Buffer.concat(encodeFrame(KIND_REQUEST, REQUEST_TYPES[name], id, json, blob)));
    return id;
  }

  private async until<T>(what: string, timeoutMs: number, fn: () => T | undefined): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = fn();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; frames so far: ${JSON.stringify(this.frames.map((f) => [f.kind, f.type, f.id, f.json]))}`);
      await nextWake(this.waiters, left);
    }
  }

  /** The broker's frame answering request `id`. */
  reply(id: number, timeoutMs = 5000): Promise<Frame> {
    return this.until(`the reply to request ${id}${this.closed ? ' (the connection is closed)' : ''}`, timeoutMs, () => this.frames.find((f) => f.id === id));
  }

  /** Resolves once the broker has closed the connection. */
  async closedByBroker(timeoutMs = 5000): Promise<void> {
    await this.until('the broker to close the connection', timeoutMs, () => (this.closed ? true : undefined));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
