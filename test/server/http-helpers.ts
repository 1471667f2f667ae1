// Shared by the HTTP API tests: a real server on a loopback port over a real
// FileLog in a temporary directory, fetch helpers, and a small SSE reader.

import type { TestContext } from 'node:test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openFileLog, type FileLog } from '../../src/log/file/file-log.ts';
import { createHttpApi, type HttpApi, type HttpApiOptions } from '../../src/server/http-api.ts';
import { BrokerMetrics } from '../../src/server/metrics.ts';
import { tmpDir } from '../helpers/tmp.ts';

export interface Broker {
  log: FileLog;
  api: HttpApi;
  metrics: BrokerMetrics;
  server: http.Server;
  url: string;
}

export async function withBroker(t: TestContext, options: Partial<HttpApiOptions>, fn: (b: Broker) => Promise<void>): Promise<void> {
  // As the broker does (server/broker.ts): the log's own syncs go to its metrics.
  let observeFsync = (_seconds: number): void => {};
  const log = await openFileLog({ dataDir: tmpDir(t), onFsync: (s) => observeFsync(s) });
  const metrics = new BrokerMetrics(log);
  observeFsync = (s) => metrics.observeFsync(s);
  const api = createHttpApi({ log, metrics, ...options });
  const server = http.createServer(api.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    await fn({ log, api, metrics, server, url: `http://127.0.0.1:${port}` });
  } finally {
    api.closeStreams();
    server.closeAllConnections();
    if (server.listening) await new Promise((resolve) => server.close(resolve));
    await log.close();
  }
}

// Response bodies are checked by assertions, field by field; typing each shape would add nothing.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Body = any;

export async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: Body; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

export const post = (url: string, body: unknown, type = 'application/json', headers: Record<string, string> = {}) =>
  call(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'Content-Type': type, ...headers } });

export async function ends(log: FileLog, topic: string): Promise<number[]> {
  return (await log.describeTopic(topic)).partitions.map((p) => p.endOffset);
}

export const text = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString());

export interface SseEvent {
  event?: string;
  id?: string;
  data?: string;
  comment?: string;
}

/** Reads Server-Sent Events (and comment lines) off a fetch body. */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buf = '';
  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }
  /** The next block, or null at the end of the stream. */
  async next(): Promise<SseEvent | null> {
    while (true) {
      const i = this.#buf.indexOf('\n\n');
      if (i >= 0) {
        const block = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 2);
        const e: SseEvent = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) e.comment = line.slice(1).trim();
          else {
            const c = line.indexOf(':');
            (e as Record<string, string>)[line.slice(0, c)] = line.slice(c + 1).replace(/^ /, '');
          }
        }
        return e;
      }
      const { done, value } = await this.#reader.read();
      if (done) return null;
      this.#buf += this.#decoder.decode(value, { stream: true });
    }
  }
  async nextEvent(): Promise<SseEvent | null> {
    let e = await this.next();
    while (e !== null && e.comment !== undefined && e.event === undefined) e = await this.next();
    return e;
  }
}

export function sample(body: string, name: string, labels: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${name}{${labels}} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

