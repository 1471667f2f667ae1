// One client connection to a broker: pipelined requests over a single
// socket, and reconnection with backoff. A request outstanding when the
// connection drops is sent again on the next connection — every request type
// is safe to repeat (appends carry idempotence stamps, transactions their
// sequence, the rest are reads or set a value) — until `retryForMs` passes
// without a connection, when it fails with UNAVAILABLE.

import net from 'node:net';
import tls from 'node:tls';
import { ErrorCodes, SluiceError, isSluiceError } from '../../errors.ts';
import { DEFAULT_MAX_FRAME_BYTES, FrameReader, KIND_ERROR, KIND_REQUEST, REQUEST_TYPES, encodeFrame, errorFrom, type Frame, type RequestName } from '../../protocol/frames.ts';
import type { RequestOf, ResponseOf } from '../../protocol/messages.ts';

export interface BrokerAddress {
  host: string;
  port: number;
  tls: boolean;
  /** A Unix-domain socket instead of host and port (the holder of a data dir serving it locally). */
  path?: string;
}

export interface ConnectionOptions {
  token?: string;
  /** PEM CA certificate(s) to trust for TLS (a self-signed broker). */
  ca?: Buffer;
  /** How long requests wait for the broker to come back before failing. Default 30 s. */
  retryForMs?: number;
  /** The same before the first connection ever succeeded (a wrong address should fail fast). Default 10 s. */
  firstConnectForMs?: number;
  /**
   * Called after each failed attempt to connect, before the next: a client of a data dir's
   * holder takes over here when the holder has gone. An error it throws fails the requests.
   */
  onUnreachable?: (error: Error) => Promise<void>;
}

/** TLS failures no retry can mend: the certificate is not one this client trusts. */
const CERT_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/;

/** `sluice://host:port` (TCP), `sluices://host:port` (TLS) or `sluice+unix:///path` (a local socket). */
export function parseBrokerUrl(url: string): BrokerAddress {
  const unix = /^sluice\+unix:\/\/(\/.+)$/.exec(url.trim());
  if (unix) return { tls: false, host: 'localhost', port: 0, path: unix[1]! };
  const m = /^(sluices?):\/\/([^/:]+|\[[^\]]+\]):(\d{1,5})\/?$/.exec(url.trim());
  if (!m) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `broker address ${JSON.stringify(url)} is not sluice://HOST:PORT (or sluices://HOST:PORT for TLS)`);
  return { tls: m[1] === 'sluices', host: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3]) };
}

export interface Response<N extends RequestName = RequestName> {
  json: ResponseOf<N>;
  blob: Buffer;
}

interface Pending {
  type: number;
  json: unknown;
  blob: Buffer | undefined;
  resolve: (r: { json: unknown; blob: Buffer }) => void;
  reject: (e: Error) => void;
  /** The frame's length field as last written: how the broker's TOO_LARGE (id 0) names it. */
  frameLength?: number;
}

/**
 * A response is a read's records (up to the read's soft maxBytes plus one batch) or
 * an append's reply; the broker is trusted, so its frames may be larger than the
 * requests it accepts. A response over the reader's limit would break the connection
 * and its request would be sent again and again.
 */
const MAX_RESPONSE_FRAME_BYTES = 2 * DEFAULT_MAX_FRAME_BYTES;

export class BrokerConnection {
  readonly address: BrokerAddress;
  private readonly o: ConnectionOptions;
  private socket: net.Socket | null = null;
  private ready = false;
  private connecting: Promise<void> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** When the broker was last reachable (or when the outage began). */
  private downSince: number | null = null;
  private everConnected = false;

  constructor(address: BrokerAddress, o: ConnectionOptions = {}) {
    this.address = address;
    this.o = o;
  }

  request<N extends RequestName>(name: N, json: RequestOf<N>, blob?: Buffer): Promise<Response<N>> & { id: number } {
    const id = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    let p!: Pending;
    const promise = new Promise<Response<N>>((resolve, reject) => {
      // The one place a response is taken to have its request's shape (messages.ts).
      p = { type: REQUEST_TYPES[name], json, blob, resolve: (r) => resolve(r as Response<N>), reject };
    }) as Promise<Response<N>> & { id: number };
    promise.id = id;
    if (this.closed) {
      p.reject(new SluiceError(ErrorCodes.CLOSED, 'the broker connection is closed'));
      return promise;
    }
    this.pending.set(id, p);
    if (this.ready) this.write(id, p);
    else void this.connect();
    return promise;
  }

  /** Sends without expecting a reply to be awaited (cancel). */
  fireAndForget<N extends RequestName>(name: N, json: RequestOf<N>): void {
    this.request(name, json).catch(() => {});
  }

  private write(id: number, p: Pending): void {
    const frame = encodeFrame(KIND_REQUEST, p.type, id, p.json, p.blob);
    p.frameLength = frame[0]!.readUInt32BE(0);
    for (const b of frame) this.socket!.write(b);
  }

  private connect(): Promise<void> {
    if (this.connecting) return this.connecting;
    this.connecting = this.connectLoop().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async connectLoop(): Promise<void> {
    let delay = 50;
    const since = (this.downSince ??= Date.now());
    while (!this.closed && !this.ready) {
      try {
        await this.open();
        this.everConnected = true;
        this.downSince = null;
        return;
      } catch (e) {
        if (isSluiceError(e, ErrorCodes.UNAUTHORIZED)) return this.failAll(e);
        const code = (e as { code?: unknown }).code;
        if (typeof code === 'string' && CERT_ERRORS.test(code)) {
          return this.failAll(new SluiceError(ErrorCodes.UNAVAILABLE, `the broker's TLS certificate is not trusted (${code}: ${(e as Error).message}); point SLUICE_TLS_CA at the CA that signed it`, { code }, { cause: e }));
        }
        try {
          await this.o.onUnreachable?.(e as Error);
        } catch (taken) {
          return this.failAll(taken as Error);
        }
        if (this.closed) return;
        const down = Date.now() - since;
        const limit = this.everConnected ? (this.o.retryForMs ?? 30_000) : (this.o.firstConnectForMs ?? 10_000);
        if (down >= limit) {
          const { host, port, path } = this.address;
          const where = path ?? `${host}:${port}`;
          const hint = path === undefined ? 'is `sluice serve` running there?' : 'is the process holding its data dir still running?';
          return this.failAll(new SluiceError(ErrorCodes.UNAVAILABLE, `cannot reach the broker at ${where} for ${Math.round(down / 1000)} s (${(e as Error).message}); ${hint}`, path === undefined ? { host, port } : { file: path }, { cause: e }));
        }
        await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random())));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  /** Connects and says hello; resolves once requests may flow. */
  private open(): Promise<void> {
    const { host, port, path } = this.address;
    return new Promise<void>((resolve, reject) => {
      const socket =
        path !== undefined ? net.connect({ path }) : this.address.tls ? tls.connect({ host, port, ca: this.o.ca, servername: net.isIP(host) ? undefined : host }) : net.connect({ host, port });
      if (path === undefined) socket.setNoDelay(true);
      const reader = new FrameReader(MAX_RESPONSE_FRAME_BYTES);
      let greeted = false;
      const fail = (e: Error) => {
        socket.destroy();
        if (!greeted) reject(e);
      };
      socket.once(this.address.tls ? 'secureConnect' : 'connect', () => {
        const hello: RequestOf<'hello'> = { token: this.o.token, client: 'sluice-js' };
        for (const b of encodeFrame(KIND_REQUEST, REQUEST_TYPES.hello, 0, hello)) socket.write(b);
      });
      socket.on('data', (chunk: Buffer) => {
        let frames: Frame[];
        try {
          frames = reader.push(chunk);
        } catch (e) {
          return fail(e as Error);
        }
        for (const f of frames) {
          if (!greeted) {
            if (f.kind === KIND_ERROR) return fail(errorFrom(f.json));
            greeted = true;
            this.socket = socket;
            this.ready = true;
            // Everything outstanding goes (again) on the new connection, in id order.
            for (const [id, p] of [...this.pending].sort((a, b) => a[0] - b[0])) this.write(id, p);
            resolve();
            continue;
          }
          this.deliver(f);
        }
      });
      socket.on('error', (e) => fail(e));
      socket.on('close', () => {
        if (!greeted) return reject(new Error('connection closed during the handshake'));
        if (this.socket === socket) {
          this.socket = null;
          this.ready = false;
          if (!this.closed && this.pending.size > 0) void this.connect();
        }
      });
    });
  }

  private deliver(f: Frame): void {
    if (f.id === 0 && f.kind === KIND_ERROR) {
      // A connection-level error (the broker is closing the connection): outstanding requests are retried.
      const e = errorFrom(f.json);
      if (isSluiceError(e, ErrorCodes.UNAUTHORIZED)) this.failAll(e);
      if (isSluiceError(e, ErrorCodes.TOO_LARGE)) this.failTooLarge(e);
      return;
    }
    const p = this.pending.get(f.id);
    if (!p) return; // a reply to a request sent on an earlier connection that was answered already
    this.pending.delete(f.id);
    if (f.kind === KIND_ERROR) p.reject(errorFrom(f.json));
    else p.resolve({ json: f.json, blob: f.blob });
  }

  /**
   * The broker refused a frame as too large: sent again, it would be refused
   * again, forever. The request(s) of that length fail; the others are retried on
   * the next connection (the broker read nothing after the refused frame).
   */
  private failTooLarge(e: SluiceError): void {
    const { length, limit } = e.details as { length?: unknown; limit?: unknown };
    const refused = [...this.pending].filter(([, p]) => p.frameLength === length);
    const error = new SluiceError(
      ErrorCodes.TOO_LARGE,
      `a request of ${String(length)} bytes is over the broker's limit of ${String(limit)} bytes for one frame (sluice serve --max-frame-bytes); send fewer or smaller records at a time, or raise the limit`,
      { length, limit },
    );
    // No request of that length (cannot happen with this client): fail them all rather than loop.
    for (const [id, p] of refused.length > 0 ? refused : [...this.pending]) {
      this.pending.delete(id);
      p.reject(error);
    }
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** A connection (if any) is up now. */
  get connected(): boolean {
    return this.ready;
  }

  close(): void {
    this.closed = true;
    this.failAll(new SluiceError(ErrorCodes.CLOSED, 'the broker connection was closed while the request was pending'));
    this.socket?.destroy();
    this.socket = null;
    this.ready = false;
  }
}
