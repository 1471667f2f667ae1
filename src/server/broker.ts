// `sluice serve`: one process owns a data dir (the embedded log's lock keeps
// out a second owner) and serves it over the binary protocol (tcp-server.ts)
// and, for curl users, HTTP (http-api.ts), with Prometheus metrics.
//
// Security by default: both listeners bind to loopback; binding anywhere
// else needs a token. Shutdown is graceful: stop accepting, finish what is in
// flight, then close the log, which syncs it to disk.

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { openFileLog, type FileLog } from '../log/file/file-log.ts';
import { validToken } from './auth.ts';
import { Handlers } from './handlers.ts';
import { createHttpApi } from './http-api.ts';
import { BrokerMetrics } from './metrics.ts';
import { TcpServer } from './tcp-server.ts';
import { serveLocally, type LocalServer } from './local-socket.ts';

export const DEFAULT_LISTEN = '127.0.0.1:7420';
export const DEFAULT_HTTP = '127.0.0.1:7421';

export interface BrokerOptions {
  dataDir: string;
  /** HOST:PORT for the binary protocol. Default 127.0.0.1:7420. */
  listen?: string;
  /** HOST:PORT for the HTTP API; null: none. Default 127.0.0.1:7421. */
  http?: string | null;
  /** Required of every client; mandatory when binding beyond loopback. */
  token?: string;
  /** PEM certificate and key: TLS for the protocol and HTTPS for the API. */
  tls?: { cert: Buffer; key: Buffer };
  maxFrameBytes?: number;
  maxConnections?: number;
  /** With a token: how long a new connection has to complete hello. Default 10 s. */
  helloTimeoutMs?: number;
}

export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(s: string, what: string): HostPort {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s.trim());
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `${what} ${JSON.stringify(s)} is not HOST:PORT (e.g. 127.0.0.1:7420)`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export class Broker {
  readonly log: FileLog;
  readonly address: HostPort;
  readonly httpAddress: HostPort | null;
  private readonly tcp: TcpServer;
  /** Test-visible: its memberCount shows the remote group members the broker holds. */
  readonly handlers: Handlers;
  private readonly httpServer: http.Server | null;
  private readonly api: ReturnType<typeof createHttpApi> | null;
  /** The data dir's local socket, so `sluice` commands without --broker work beside the broker too. */
  private readonly local: LocalServer;
  private closing: Promise<void> | null = null;

  private constructor(parts: { log: FileLog; tcp: TcpServer; handlers: Handlers; address: HostPort; httpServer: http.Server | null; api: ReturnType<typeof createHttpApi> | null; httpAddress: HostPort | null; local: LocalServer }) {
    this.log = parts.log;
    this.tcp = parts.tcp;
    this.handlers = parts.handlers;
    this.address = parts.address;
    this.httpServer = parts.httpServer;
    this.api = parts.api;
    this.httpAddress = parts.httpAddress;
    this.local = parts.local;
  }

  static async start(o: BrokerOptions): Promise<Broker> {
    if (o.token !== undefined) validToken(o.token, 'the token');
    const listen = parseHostPort(o.listen ?? DEFAULT_LISTEN, '--listen');
    const httpAt = o.http === null ? null : parseHostPort(o.http ?? DEFAULT_HTTP, '--http');
    for (const a of [listen, httpAt]) {
      if (a && !isLoopback(a.host) && o.token === undefined) {
        throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `binding to ${a.host} exposes the log beyond this machine: give --auth-token (or --auth-token-file), and preferably --tls-cert/--tls-key`);
      }
    }
    // Its own log's syncs only: another FileLog in the process is not this broker's.
    let observeFsync = (_seconds: number): void => {};
    const log = await openFileLog({ dataDir: o.dataDir, onFsync: (s) => observeFsync(s) });
    const metrics = new BrokerMetrics(log);
    observeFsync = (s) => metrics.observeFsync(s);
    const handlers = new Handlers(log, { recordsIn: (t, n, b) => metrics.recordsIn(t, n, b), recordsOut: (t, n, b) => metrics.recordsOut(t, n, b) });
    const tcp = new TcpServer({ handlers, token: o.token, tls: o.tls, maxFrameBytes: o.maxFrameBytes, maxConnections: o.maxConnections, helloTimeoutMs: o.helloTimeoutMs });
    let httpServer: http.Server | null = null;
    let api: ReturnType<typeof createHttpApi> | null = null;
    let local: LocalServer | null = null;
    try {
      const addr = await tcp.listen(listen.host, listen.port);
      local = await serveLocally(log, o.dataDir);
      let httpAddress: HostPort | null = null;
      if (httpAt) {
        const a = createHttpApi({ log, metrics, token: o.token });
        api = a;
        httpServer = o.tls ? https.createServer({ cert: o.tls.cert, key: o.tls.key }, a.handle) : http.createServer(a.handle);
        const server = httpServer;
        httpAddress = await new Promise<HostPort>((resolve, reject) => {
          server.once('error', reject);
          server.listen(httpAt.port, httpAt.host, () => {
            const ha = server.address() as AddressInfo;
            resolve({ host: ha.address, port: ha.port });
          });
        });
      }
      return new Broker({ log, tcp, handlers, address: { host: addr.address, port: addr.port }, httpServer, api, httpAddress, local });
    } catch (e) {
      await tcp.close().catch(() => {});
      await local?.close().catch(() => {});
      handlers.close();
      httpServer?.close();
      await log.close();
      throw new SluiceError(ErrorCodes.IO_ERROR, `cannot listen: ${(e as Error).message}`, {}, { cause: e });
    }
  }

  /** Open protocol connections (tests). */
  get connectionCount(): number {
    return this.tcp.connectionCount;
  }

  /** sluice://HOST:PORT of the binary protocol (sluices:// with TLS). */
  url(tls = false): string {
    const host = this.address.host.includes(':') ? `[${this.address.host}]` : this.address.host;
    return `${tls ? 'sluices' : 'sluice'}://${host}:${this.address.port}`;
  }

  /** Graceful: stop accepting, finish in-flight requests, end streams, close (and sync) the log. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.api?.closeStreams();
      const httpClosed = this.httpServer ? new Promise<void>((r) => this.httpServer!.close(() => r())) : Promise.resolve();
      this.httpServer?.closeIdleConnections();
      await this.tcp.close();
      await this.local.close();
      this.handlers.close();
      await httpClosed;
      await this.log.close();
    })();
    return this.closing;
  }
}
