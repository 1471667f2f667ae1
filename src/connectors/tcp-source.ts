// A TCP server the job listens on: clients connect and send length-prefixed
// frames (4-byte big-endian length, then the payload) or newline-terminated
// lines; each frame is a record whose value is the payload.
//
// Backpressure: decoded frames wait in one bounded queue. When it is full
// every connection is paused, so the kernel's receive buffers fill, the TCP
// window closes and the clients' writes stall; next() resumes them once it has
// drained the queue below half. A misbehaving client (oversized frame) loses
// its own connection; the job and other clients carry on.

import { createServer, type Server, type Socket } from 'node:net';
import { SluiceError } from '../errors.ts';
import type { Source, SourceBatch, SourceContext } from '../dataflow/io.ts';
import { listen } from './listen.ts';
import { BatchQueue, DEFAULT_MAX_FRAME_BYTES, LengthPrefixedDecoder, LineDecoder, abortPromise, type Decoder } from './framing.ts';
import { checkFunction, checkInt, checkObject, checkOneOf, checkPort, checkString, errorText, stderrLogger } from './options.ts';

export interface TcpSourceOptions {
  host?: string;
  /** 0 picks a free port; read it with address() after open(). */
  port: number;
  framing?: 'length-prefixed' | 'lines';
  /** A frame (or line) larger than this closes its connection. Default 16 MiB. */
  maxFrameBytes?: number;
  /** Queue bound in records; reading pauses at this. Default 10,000. */
  maxBufferedRecords?: number;
  /** Queue bound in payload bytes. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** Where warnings (bad frames, connection errors) go. Default: stderr. */
  log?: (message: string) => void;
}

interface Conn {
  id: number;
  socket: Socket;
  origin: string;
  decoder: Decoder;
}

export class TcpSource implements Source {
  readonly name: string;
  readonly #host: string;
  readonly #port: number;
  readonly #framing: 'length-prefixed' | 'lines';
  readonly #maxFrame: number;
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  readonly #log: (message: string) => void;
  readonly #queue = new BatchQueue();
  readonly #conns = new Set<Conn>();
  #server: Server | null = null;
  #address: { host: string; port: number } | null = null;
  #nextConnId = 1;
  #paused = false;
  #maxBatch = 1000;
  #wakeup: (() => void) | null = null;
  /** Arrival time of the chunk being decoded: one clock read per chunk, not per frame. */
  #now = 0;

  constructor(o: Required<Omit<TcpSourceOptions, 'log'>> & { log: (message: string) => void }) {
    this.#host = o.host;
    this.#port = o.port;
    this.#framing = o.framing;
    this.#maxFrame = o.maxFrameBytes;
    this.#maxRecords = o.maxBufferedRecords;
    this.#maxBytes = o.maxBufferedBytes;
    this.#log = o.log;
    this.name = `tcp ${o.host}:${o.port}`;
  }

  async open(ctx: SourceContext): Promise<void> {
    this.#maxBatch = Math.max(1, ctx.maxBatchRecords);
    const server = createServer((socket) => this.#accept(socket));
    this.#address = await listen(server, 'tcp', this.name, this.#host, this.#port, this.#log);
    this.#server = server;
  }

  /** Where the server listens (the real port when `port` was 0). */
  address(): { host: string; port: number } {
    if (this.#address === null) throw new SluiceError('CLOSED', `${this.name}: address() before open()`);
    return this.#address;
  }

  /** Records and bytes decoded and waiting for next() (tests, metrics). */
  get buffered(): { records: number; bytes: number } {
    return { records: this.#queue.records, bytes: this.#queue.bytes };
  }

  get connections(): number {
    return this.#conns.size;
  }

  async next(signal: AbortSignal): Promise<SourceBatch | null> {
    if (this.#server === null) throw new SluiceError('CLOSED', `${this.name}: next() before open() or after close()`);
    for (;;) {
      const got = this.#queue.shift(this.#maxBatch);
      if (got !== null) {
        if (this.#paused && this.#queue.records < this.#maxRecords / 2 && this.#queue.bytes < this.#maxBytes / 2) this.#setPaused(false);
        return got.batch;
      }
      if (signal.aborted || this.#server === null) return null;
      const abort = abortPromise(signal);
      await Promise.race([new Promise<void>((resolve) => (this.#wakeup = resolve)), abort.promise]);
      abort.off();
      this.#wakeup = null;
    }
  }

  /** TCP has no acknowledgements to send: frames delivered are the runtime's from here on. */
  async commit(): Promise<void> {}

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const c of this.#conns) c.socket.destroy();
    this.#conns.clear();
    this.#wakeup?.();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    if (this.#server === null) {
      socket.destroy();
      return;
    }
    const id = this.#nextConnId++;
    const conn: Conn = {
      id,
      socket,
      origin: `tcp:${this.#address!.host}:${this.#address!.port}#${id}`,
      decoder: this.#framing === 'lines' ? new LineDecoder(this.#maxFrame) : new LengthPrefixedDecoder(this.#maxFrame),
    };
    this.#conns.add(conn);
    if (this.#paused) socket.pause();
    const skipEmpty = this.#framing === 'lines';
    const emit = (payload: Buffer, n: number) => {
      if (skipEmpty && payload.length === 0) return;
      this.#queue.push(conn.origin, n, payload, this.#now);
    };
    socket.on('data', (chunk: Buffer) => {
      this.#now = Date.now();
      const before = this.#queue.records;
      try {
        conn.decoder.push(chunk, emit);
      } catch (e) {
        this.#log(`${this.name}: closing connection #${id} from ${socket.remoteAddress}:${socket.remotePort}: ${e instanceof Error ? e.message : String(e)}`);
        this.#drop(conn);
      }
      if (this.#queue.records > before) this.#wakeup?.();
      if (!this.#paused && (this.#queue.records >= this.#maxRecords || this.#queue.bytes >= this.#maxBytes)) this.#setPaused(true);
    });
    socket.on('end', () => {
      if (this.#framing === 'lines') {
        try {
          conn.decoder.end(emit);
          this.#wakeup?.();
        } catch (e) {
          this.#log(`${this.name}: connection #${id}: ${e instanceof Error ? e.message : String(e)}`);
        }
      } else if (conn.decoder.partialBytes > 0) {
        this.#log(`${this.name}: connection #${id} ended inside a frame; its ${conn.decoder.partialBytes} bytes were dropped`);
      }
      socket.end();
    });
    socket.on('error', (e) => this.#log(`${this.name}: connection #${id}: ${errorText(e)}`));
    socket.on('close', () => this.#conns.delete(conn));
  }

  #drop(conn: Conn): void {
    this.#conns.delete(conn);
    conn.socket.destroy();
  }

  #setPaused(paused: boolean): void {
    this.#paused = paused;
    for (const c of this.#conns) {
      if (paused) c.socket.pause();
      else c.socket.resume();
    }
  }
}

export function tcpSource(options: TcpSourceOptions): TcpSource {
  const o = checkObject('tcpSource', options);
  return new TcpSource({
    host: checkString('tcpSource', 'host', o.host, '127.0.0.1'),
    port: checkPort('tcpSource', o.port),
    framing: checkOneOf('tcpSource', 'framing', o.framing, ['length-prefixed', 'lines'], 'length-prefixed'),
    maxFrameBytes: checkInt('tcpSource', 'maxFrameBytes', o.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, 0, 0xffffffff),
    maxBufferedRecords: checkInt('tcpSource', 'maxBufferedRecords', o.maxBufferedRecords, 10_000),
    maxBufferedBytes: checkInt('tcpSource', 'maxBufferedBytes', o.maxBufferedBytes, 4 * 1024 * 1024),
    log: checkFunction<(m: string) => void>('tcpSource', 'log', o.log) ?? stderrLogger,
  });
}
