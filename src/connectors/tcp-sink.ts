// A TCP client that writes each batch to a server (the receiver of the
// Wallaroo word count). write() waits while the socket's buffer is over its
// high-water mark, so a slow receiver slows the job.
//
// If the connection drops, it reconnects with exponential backoff; bytes whose
// write callback had not run (still in Node's buffer, not the kernel's) are
// sent again on the new connection, whole. Bytes the kernel had accepted are
// gone with the old connection: TCP gives no application-level
// acknowledgement, so this sink is at-most-once across a dropped connection.

import { connect, type Socket } from 'node:net';
import { SluiceError } from '../errors.ts';
import type { Sink, SinkContext, SinkRecord } from '../dataflow/io.ts';
import { encodeFrames, encodeRaw } from './framing.ts';
import { checkFunction, checkInt, checkObject, checkOneOf, checkPort, checkString, errorText, stderrLogger } from './options.ts';

export interface TcpSinkOptions {
  host?: string;
  port: number;
  /** 'length-prefixed': 4-byte big-endian length + value; 'raw': the value bytes as they are. */
  framing?: 'length-prefixed' | 'raw';
  /** How long open() keeps trying to make the first connection. Default 10 s. */
  connectTimeoutMs?: number;
  /** First reconnect delay, doubled after each failure up to maxBackoffMs. Default 100 ms. */
  backoffMs?: number;
  maxBackoffMs?: number;
  log?: (message: string) => void;
}

interface Pending {
  buf: Buffer;
  /** The socket it was last written to; null while waiting for a connection. */
  socket: Socket | null;
}

export class TcpSink implements Sink {
  readonly name: string;
  readonly #host: string;
  readonly #port: number;
  readonly #encode: (records: readonly SinkRecord[]) => Buffer;
  readonly #connectTimeoutMs: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #log: (message: string) => void;
  #socket: Socket | null = null;
  #connected = false;
  #closed = false;
  #delay: number;
  #timer: NodeJS.Timeout | null = null;
  #lastError = '';
  /** Written but not yet handed to the kernel, in order. */
  #pending: Pending[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(o: Required<Omit<TcpSinkOptions, 'log'>> & { log: (message: string) => void }) {
    this.#host = o.host;
    this.#port = o.port;
    this.#encode = o.framing === 'raw' ? encodeRaw : encodeFrames;
    this.#connectTimeoutMs = o.connectTimeoutMs;
    this.#backoffMs = o.backoffMs;
    this.#maxBackoffMs = o.maxBackoffMs;
    this.#delay = o.backoffMs;
    this.#log = o.log;
    this.name = `tcp ${o.host}:${o.port}`;
  }

  get connected(): boolean {
    return this.#connected;
  }

  async open(_ctx: SinkContext): Promise<void> {
    this.#connect();
    const deadline = Date.now() + this.#connectTimeoutMs;
    const timer = setTimeout(() => this.#wake(), this.#connectTimeoutMs);
    try {
      while (!this.#connected && !this.#closed && Date.now() < deadline) await this.#wait();
    } finally {
      clearTimeout(timer);
    }
    if (!this.#connected) {
      const why = this.#lastError === '' ? 'no connection' : this.#lastError;
      await this.close();
      throw new SluiceError('IO_ERROR', `tcp sink cannot connect to ${this.#host}:${this.#port} (${why}; tried for ${this.#connectTimeoutMs} ms)`, {
        host: this.#host,
        port: this.#port,
      });
    }
  }

  async write(records: SinkRecord[]): Promise<void> {
    this.#checkOpen();
    const buf = this.#encode(records);
    if (buf.length === 0) return;
    const p: Pending = { buf, socket: null };
    this.#pending.push(p);
    if (this.#connected) this.#send(p);
    while (!this.#closed && (!this.#connected || this.#socket!.writableNeedDrain)) await this.#wait();
    this.#checkOpen();
  }

  /** Resolves when every byte written so far is in the kernel's socket buffer. */
  async flush(): Promise<void> {
    this.#checkOpen();
    while (this.#pending.length > 0 && !this.#closed) await this.#wait();
    this.#checkOpen();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    const s = this.#socket;
    this.#socket = null;
    this.#connected = false;
    this.#wake();
    if (s === null) return;
    // A graceful end lets the receiver see the last bytes; destroy if it does not close promptly.
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => s.destroy(), 2000);
      s.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      s.end();
    });
  }

  #connect(): void {
    this.#timer = null;
    if (this.#closed) return;
    const s = connect({ host: this.#host, port: this.#port });
    s.setNoDelay(true);
    this.#socket = s;
    s.on('connect', () => {
      if (this.#socket !== s) return;
      this.#connected = true;
      this.#delay = this.#backoffMs;
      for (const p of this.#pending) this.#send(p);
      this.#wake();
    });
    s.on('drain', () => this.#wake());
    s.on('error', (e) => {
      this.#lastError = errorText(e);
    });
    s.on('close', () => {
      if (this.#socket !== s) return;
      const was = this.#connected;
      this.#connected = false;
      this.#socket = null;
      if (this.#closed) return;
      if (was) this.#log(`${this.name}: connection lost (${this.#lastError || 'closed by peer'}); reconnecting`);
      this.#timer = setTimeout(() => this.#connect(), this.#delay);
      this.#delay = Math.min(this.#delay * 2, this.#maxBackoffMs);
      this.#wake();
    });
  }

  #send(p: Pending): void {
    const s = this.#socket!;
    p.socket = s;
    s.write(p.buf, (e) => {
      // A callback from an older connection (or a failed write) leaves p to be resent.
      if (e || p.socket !== s) return;
      const i = this.#pending.indexOf(p);
      if (i >= 0) this.#pending.splice(i, 1);
      this.#wake();
    });
  }

  #checkOpen(): void {
    if (this.#closed) throw new SluiceError('CLOSED', `${this.name} is closed`);
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.add(resolve));
  }

  #wake(): void {
    const ws = [...this.#waiters];
    this.#waiters.clear();
    for (const w of ws) w();
  }
}

export function tcpSink(options: TcpSinkOptions): TcpSink {
  const o = checkObject('tcpSink', options);
  return new TcpSink({
    host: checkString('tcpSink', 'host', o.host, '127.0.0.1'),
    port: o.port === undefined ? checkPort('tcpSink', o.port) : checkInt('tcpSink', 'port', o.port, 0, 1, 65535),
    framing: checkOneOf('tcpSink', 'framing', o.framing, ['length-prefixed', 'raw'], 'length-prefixed'),
    connectTimeoutMs: checkInt('tcpSink', 'connectTimeoutMs', o.connectTimeoutMs, 10_000, 0),
    backoffMs: checkInt('tcpSink', 'backoffMs', o.backoffMs, 100),
    maxBackoffMs: checkInt('tcpSink', 'maxBackoffMs', o.maxBackoffMs, 5000),
    log: checkFunction<(m: string) => void>('tcpSink', 'log', o.log) ?? stderrLogger,
  });
}
