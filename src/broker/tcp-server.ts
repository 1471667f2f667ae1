// The broker's TCP (or TLS) listener: frames in, requests dispatched to the
// handlers as they arrive (so appends to a partition keep their order), and
// responses written back tagged with their request id as each completes.
// A connection that breaks the protocol gets one error frame and is closed;
// no other connection, and no data, is touched.

import net from 'node:net';
import tls from 'node:tls';
import { ErrorCodes, SluiceError, isSluiceError } from '../errors.ts';
import { tokenChecker } from './auth.ts';
import type { Handlers, Session } from './handlers.ts';
import { DEFAULT_MAX_FRAME_BYTES, FrameReader, KIND_ERROR, KIND_REQUEST, KIND_RESPONSE, PROTOCOL_VERSION, REQUEST_NAMES, encodeFrame, errorJson, type Frame } from './protocol.ts';

export interface TcpServerOptions {
  handlers: Handlers;
  /** Required of every client (in its hello) when set. */
  token?: string;
  maxFrameBytes?: number;
  maxConnections?: number;
  tls?: { cert: Buffer; key: Buffer };
}

/** Output buffered for a slow client beyond which the broker stops reading its requests. */
const HIGH_WATER_BYTES = 8 * 1024 * 1024;

interface Connection {
  socket: net.Socket;
  session: Session;
  inFlight: number;
  idle: (() => void) | null;
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
    const conn: Connection = { socket, session: { waits: new Map() }, inFlight: 0, idle: null };
    this.connections.add(conn);
    const reader = new FrameReader(this.o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    let authenticated = this.o.token === undefined;
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        return this.reject(conn, 0, 0, e);
      }
      for (const f of frames) {
        if (socket.destroyed) return;
        if (f.kind !== KIND_REQUEST) return this.reject(conn, f.type, f.id, new SluiceError(ErrorCodes.PROTOCOL_ERROR, `a client may only send requests (kind 1), got kind ${f.kind}`));
        const name = REQUEST_NAMES.get(f.type);
        if (!name) return this.reject(conn, f.type, f.id, new SluiceError(ErrorCodes.PROTOCOL_ERROR, `unknown request type ${f.type}`));
        if (f.version !== PROTOCOL_VERSION) {
          this.send(conn, KIND_ERROR, f.type, f.id, errorJson(new SluiceError(ErrorCodes.PROTOCOL_ERROR, `${name} version ${f.version} is not supported; this broker speaks version ${PROTOCOL_VERSION}`)));
          continue;
        }
        if (!authenticated) {
          const token = (f.json as { token?: unknown } | null)?.token;
          if (name !== 'hello' || !this.checkToken(typeof token === 'string' ? token : undefined)) {
            return this.reject(conn, f.type, f.id, new SluiceError(ErrorCodes.UNAUTHORIZED, name === 'hello' ? 'wrong or missing token: give the broker\'s --auth-token (SLUICE_TOKEN)' : 'the first request must be hello with the token'));
          }
          authenticated = true;
        }
        this.dispatch(conn, f, name);
      }
    });
    socket.on('close', () => {
      for (const ac of conn.session.waits.values()) ac.abort();
      this.connections.delete(conn);
      conn.idle?.();
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
        if (--conn.inFlight === 0) conn.idle?.();
      });
  }

  private send(conn: Connection, kind: number, type: number, id: number, json: unknown, blob?: Buffer): void {
    const s = conn.socket;
    if (s.destroyed || !s.writable) return;
    for (const b of encodeFrame(kind, type, id, json, blob)) s.write(b);
    if (s.writableLength > HIGH_WATER_BYTES && !s.isPaused()) {
      s.pause();
      s.once('drain', () => s.resume());
    }
  }

  /** One error frame, then the connection is closed: after a broken frame nothing on it can be trusted. */
  private reject(conn: Connection, type: number, id: number, e: unknown): void {
    const s = conn.socket;
    if (s.destroyed) return;
    s.pause();
    s.end(Buffer.concat(encodeFrame(KIND_ERROR, type, id, errorJson(e))));
    setTimeout(() => s.destroy(), 1000).unref();
  }

  /** Stops accepting, lets in-flight requests finish (parked waits end at once), then closes every connection. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    await Promise.all(
      [...this.connections].map(async (conn) => {
        conn.socket.pause();
        for (const ac of conn.session.waits.values()) ac.abort();
        if (conn.inFlight > 0) await new Promise<void>((r) => (conn.idle = r));
        await new Promise<void>((r) => conn.socket.end(r));
        conn.socket.destroy();
      }),
    );
    await closed;
  }
}
