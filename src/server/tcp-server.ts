// The broker's TCP (or TLS) listener: frames in, requests dispatched to the
// handlers as they arrive (so appends to a partition keep their order), and
// responses written back tagged with their request id as each completes.
// A connection that breaks the protocol is closed: the requests before the
// broken frame are carried out and answered, then one error frame is sent for
// it, and nothing after it runs; no other connection, and no data, is touched.

import net from 'node:net';
import tls from 'node:tls';
import { ErrorCodes, SluiceError, isSluiceError } from '../errors.ts';
import { tokenChecker } from './auth.ts';
import type { Handlers, Session } from './handlers.ts';
import { DEFAULT_MAX_FRAME_BYTES, FrameReader, KIND_ERROR, KIND_REQUEST, KIND_RESPONSE, PROTOCOL_VERSION, REQUEST_NAMES, encodeFrame, errorJson, type Frame } from '../protocol/frames.ts';

export interface TcpServerOptions {
  handlers: Handlers;
  /** Required of every client (in its hello) when set. */
  token?: string;
  maxFrameBytes?: number;
  maxConnections?: number;
  tls?: { cert: Buffer; key: Buffer };
  /** With a token: how long a new connection has to complete hello. Default 10 s. */
  helloTimeoutMs?: number;
}

/** With a token, the largest frame before hello succeeds: a hello is a few hundred bytes. */
export const MAX_HELLO_FRAME_BYTES = 64 * 1024;
const HELLO_TIMEOUT_MS = 10_000;

/** Output buffered for a slow client beyond which the broker stops reading its requests. */
const HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** After a broken frame: how long the requests before it may take to answer before the connection closes anyway. */
const ANSWER_BEFORE_CLOSE_MS = 10_000;

interface Connection {
  socket: net.Socket;
  session: Session;
  inFlight: number;
  /** Called once inFlight drops to 0 (or the socket closes). */
  idle: Set<() => void>;
  /** False once the connection broke the protocol or the server is closing: read nothing more. */
  reading: boolean;
}

/**
 * Feeds a FrameReader so that each push completes at most one frame. A push that meets a broken
 * frame throws, and the frames it had decoded before it would be lost with the exception; one
 * frame per push keeps them, so the requests before a broken frame run and are answered.
 */
class FrameSplitter {
  private readonly reader: FrameReader;
  /** The current frame's 4-byte length field, as far as it has arrived. */
  private readonly lengthField = Buffer.alloc(4);
  private lengthBytes = 0;
  /** Bytes of the current frame after its length field still to come. */
  private rest = 0;

  constructor(maxFrameBytes: number) {
    this.reader = new FrameReader(maxFrameBytes);
  }

  limit(maxFrameBytes: number, hint: string): void {
    this.reader.limit(maxFrameBytes, hint);
  }

  /**
   * Hands `onFrame` each whole frame in `chunk` (with what came before) as soon as it is complete,
   * so a limit it changes applies to the next frame; stops when `onFrame` returns false, or at the
   * first broken frame, which is returned.
   */
  push(chunk: Buffer, onFrame: (f: Frame) => boolean): unknown {
    for (let at = 0; at < chunk.length; ) {
      const start = at;
      if (this.lengthBytes < 4) {
        const n = Math.min(4 - this.lengthBytes, chunk.length - at);
        chunk.copy(this.lengthField, this.lengthBytes, at, at + n);
        this.lengthBytes += n;
        at += n;
        if (this.lengthBytes === 4) this.rest = this.lengthField.readUInt32BE(0);
      }
      if (this.lengthBytes === 4) {
        const n = Math.min(this.rest, chunk.length - at);
        this.rest -= n;
        at += n;
        if (this.rest === 0) this.lengthBytes = 0;
      }
      // The reader checks the length (too large, shorter than a header) as soon as it has the field.
      let frames: Frame[];
      try {
        frames = this.reader.push(chunk.subarray(start, at));
      } catch (error) {
        return error;
      }
      for (const f of frames) if (!onFrame(f)) return undefined;
    }
    return undefined;
  }
}

export class TcpServer {
  private readonly o: TcpServerOptions;
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  private readonly checkToken: (t: string | undefined) => boolean;
  private closing = false;

  constructor(o: TcpServerOptions) {
    this.o = o;
    this.checkToken = tokenChecker(o.token);
    const onSocket = (s: net.Socket) => this.accept(s);
    this.server = o.tls ? tls.createServer({ cert: o.tls.cert, key: o.tls.key }, onSocket) : net.createServer(onSocket);
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  /**
   * Listens on a Unix-domain socket at `path`, which only this user may connect to: the umask
   * is tightened around the bind, so the socket is never reachable by others, not even briefly.
   */
  listenPath(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const umask = process.umask(0o077);
      try {
        this.server.listen(path, () => {
          this.server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.on('error', () => {}); // a client vanishing is routine; the close handler cleans up
    if (this.closing || this.connections.size >= (this.o.maxConnections ?? 1024)) {
      const why = this.closing ? 'the broker is shutting down' : `the broker has reached its limit of ${this.o.maxConnections ?? 1024} connections`;
      socket.end(Buffer.concat(encodeFrame(KIND_ERROR, 0, 0, { code: ErrorCodes.UNAVAILABLE, message: `${why}; retry later` })));
      return;
    }
    const conn: Connection = { socket, session: { waits: new Map() }, inFlight: 0, idle: new Set(), reading: true };
    this.connections.add(conn);
    const maxFrameBytes = this.o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const splitter = new FrameSplitter(maxFrameBytes);
    let authenticated = this.o.token === undefined;
    // Until hello proves the token, a client may not make the broker buffer much for it, nor hold a
    // connection open for long: only an authenticated client gets the full frame limit.
    let helloTimer: NodeJS.Timeout | undefined;
    if (!authenticated) {
      splitter.limit(MAX_HELLO_FRAME_BYTES, 'the first request must be hello with the token, and frames before it are limited to this size');
      const ms = this.o.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
      helloTimer = setTimeout(() => this.reject(conn, 0, 0, new SluiceError(ErrorCodes.UNAUTHORIZED, `no hello with the token within ${ms} ms of connecting; the connection is closed`)), ms);
      helloTimer.unref();
    }
    const onFrame = (f: Frame): boolean => {
      if (socket.destroyed || !conn.reading) return false;
      if (f.kind !== KIND_REQUEST) return this.reject(conn, f.type, f.id, new SluiceError(ErrorCodes.PROTOCOL_ERROR, `a client may only send requests (kind 1), got kind ${f.kind}`));
      const name = REQUEST_NAMES.get(f.type);
      if (!name) return this.reject(conn, f.type, f.id, new SluiceError(ErrorCodes.PROTOCOL_ERROR, `unknown request type ${f.type}`));
      if (f.version !== PROTOCOL_VERSION) {
        this.send(conn, KIND_ERROR, f.type, f.id, errorJson(new SluiceError(ErrorCodes.PROTOCOL_ERROR, `${name} version ${f.version} is not supported; this broker speaks version ${PROTOCOL_VERSION}`)));
        return true;
      }
      if (!authenticated) {
        const token = (f.json as { token?: unknown } | null)?.token;
        if (name !== 'hello' || !this.checkToken(typeof token === 'string' ? token : undefined)) {
          return this.reject(conn, f.type, f.id, new SluiceError(ErrorCodes.UNAUTHORIZED, name === 'hello' ? 'wrong or missing token: give the broker\'s --auth-token (SLUICE_TOKEN)' : 'the first request must be hello with the token'));
        }
        authenticated = true;
        clearTimeout(helloTimer);
        splitter.limit(maxFrameBytes, 'send smaller batches');
      }
      this.dispatch(conn, f, name);
      return true;
    };
    socket.on('data', (chunk: Buffer) => {
      if (!conn.reading) return;
      const error = splitter.push(chunk, onFrame);
      if (error !== undefined) this.reject(conn, 0, 0, error);
    });
    socket.on('close', () => {
      clearTimeout(helloTimer);
      for (const ac of conn.session.waits.values()) ac.abort();
      this.connections.delete(conn);
      for (const f of conn.idle) f();
    });
  }

  /** Resolves once the connection has no request in flight, or after `maxMs`. */
  private whenIdle(conn: Connection, maxMs = Infinity): Promise<void> {
    if (conn.inFlight === 0 || conn.socket.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        conn.idle.delete(done);
        resolve();
      };
      const timer = maxMs === Infinity ? undefined : setTimeout(done, maxMs);
      conn.idle.add(done);
    });
  }

  private dispatch(conn: Connection, f: Frame, name: Parameters<Handlers['handle']>[0]): void {
    conn.inFlight++;
    this.o.handlers
      .handle(name, f.json, f.blob, conn.session, f.id)
      .then(
        (reply) => this.send(conn, KIND_RESPONSE, f.type, f.id, reply.json, reply.blob),
        (e: unknown) => {
          if (!isSluiceError(e)) process.emitWarning(`broker: ${name} request failed: ${(e as Error)?.stack ?? String(e)}`);
          this.send(conn, KIND_ERROR, f.type, f.id, errorJson(e));
        },
      )
      .finally(() => {
        if (--conn.inFlight === 0) for (const f of conn.idle) f();
      });
  }

  private send(conn: Connection, kind: number, type: number, id: number, json: unknown, blob?: Buffer): void {
    const s = conn.socket;
    if (s.destroyed || !s.writable) return;
    for (const b of encodeFrame(kind, type, id, json, blob)) s.write(b);
    if (s.writableLength > HIGH_WATER_BYTES && !s.isPaused()) {
      s.pause();
      s.once('drain', () => {
        if (conn.reading) s.resume();
      });
    }
  }

  /**
   * After a broken frame nothing on the connection can be trusted, so nothing more is read; the
   * requests before it were started, and their answers go out first (parked waits answer at
   * once), then one error frame for the broken one, then the connection is closed.
   */
  private reject(conn: Connection, type: number, id: number, e: unknown): false {
    const s = conn.socket;
    if (s.destroyed || !conn.reading) return false;
    conn.reading = false;
    s.pause();
    // A tick later: a waitFor dispatched just now whose record is already there answers ready: true.
    setImmediate(() => {
      for (const ac of conn.session.waits.values()) ac.abort();
    });
    void this.whenIdle(conn, ANSWER_BEFORE_CLOSE_MS).then(() => {
      if (s.destroyed) return;
      s.end(Buffer.concat(encodeFrame(KIND_ERROR, type, id, errorJson(e))));
      setTimeout(() => s.destroy(), 1000).unref();
    });
    return false;
  }

  /** Stops accepting, lets in-flight requests finish (parked waits end at once), then closes every connection. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    await Promise.all(
      [...this.connections].map(async (conn) => {
        conn.reading = false;
        conn.socket.pause();
        for (const ac of conn.session.waits.values()) ac.abort();
        await this.whenIdle(conn);
        await new Promise<void>((r) => conn.socket.end(r));
        conn.socket.destroy();
      }),
    );
    await closed;
  }
}
