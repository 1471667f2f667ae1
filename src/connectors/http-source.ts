// HTTP POST ingest. A request's body is one record (a single JSON value) or
// one record per non-empty line (JSON lines, or any text lines). The request
// is answered only when the runtime's commit() covers all its records, so a
// 200 means "processed, and its outputs flushed": a client that retries on any
// other outcome gets at-least-once delivery end to end.
//
// Backpressure: a request that arrives while the queue is full waits before
// its body is read (the client's upload stalls in TCP), and gets 503 with
// Retry-After if no room appears within `admitTimeoutMs`.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SluiceError } from '../errors.ts';
import { listen } from './listen.ts';
import type { Source, SourceBatch, SourceContext } from '../dataflow/io.ts';
import { BatchQueue, LineDecoder, abortPromise } from './framing.ts';
import { checkFunction, checkInt, checkObject, checkPort, checkString, errorText, stderrLogger } from './options.ts';

export interface HttpSourceOptions {
  host?: string;
  port: number;
  path?: string;
  /** Larger bodies get 413. Default 16 MiB. */
  maxBodyBytes?: number;
  /** Queue bound in records. Default 10,000. */
  maxBufferedRecords?: number;
  /** Queue bound in bytes. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** How long a request waits for room in the queue before 503. Default 30 s. */
  admitTimeoutMs?: number;
  log?: (message: string) => void;
}

interface Req {
  res: ServerResponse;
  records: number;
  /** Sequence number just past the request's last record: done once that many records were delivered and committed. */
  endSeq: number;
}

const JSON_LINES_TYPES = /^(application\/(x-)?(ndjson|jsonl|json-seq|jsonlines)|text\/)/i;

/** Splits a body into [line number, bytes] records: the whole body if it is one JSON value, else its non-empty lines. */
export function splitBody(body: Buffer, contentType: string | undefined): { n: number; value: Buffer }[] {
  const out: { n: number; value: Buffer }[] = [];
  if (!JSON_LINES_TYPES.test(contentType ?? '')) {
    const text = body.toString('utf8').trim();
    if (text !== '' && text.includes('\n')) {
      // A pretty-printed JSON document spans lines but is one value; JSON lines with 2+ lines never parse as one.
      try {
        JSON.parse(text);
        return [{ n: 1, value: Buffer.from(text) }];
      } catch {
        // not one JSON value: lines
      }
    }
  }
  const d = new LineDecoder(Number.MAX_SAFE_INTEGER);
  const emit = (line: Buffer, n: number) => {
    if (line.length > 0) out.push({ n, value: line });
  };
  d.push(body, emit);
  d.end(emit);
  return out;
}

export class HttpSource implements Source {
  readonly name: string;
  readonly #host: string;
  readonly #port: number;
  readonly #path: string;
  readonly #maxBody: number;
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  readonly #admitTimeoutMs: number;
  readonly #log: (message: string) => void;
  readonly #queue = new BatchQueue();
  #server: Server | null = null;
  #address: { host: string; port: number } | null = null;
  #maxBatch = 1000;
  #nextReq = 1;
  #enqueued = 0;
  #delivered = 0;
  /** Requests with records, in arrival order (= sequence order), waiting for a commit to cover them. */
  #requests: Req[] = [];
  /** Requests waiting for room in the queue before their bodies are read. */
  readonly #admission: (() => void)[] = [];
  #wakeup: (() => void) | null = null;

  constructor(o: Required<Omit<HttpSourceOptions, 'log'>> & { log: (message: string) => void }) {
    this.#host = o.host;
    this.#port = o.port;
    this.#path = o.path;
    this.#maxBody = o.maxBodyBytes;
    this.#maxRecords = o.maxBufferedRecords;
    this.#maxBytes = o.maxBufferedBytes;
    this.#admitTimeoutMs = o.admitTimeoutMs;
    this.#log = o.log;
    this.name = `http ${o.host}:${o.port}${o.path}`;
  }

  async open(ctx: SourceContext): Promise<void> {
    this.#maxBatch = Math.max(1, ctx.maxBatchRecords);
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => {
        this.#log(`${this.name}: request failed: ${errorText(e)}`);
        reply(res, 500, { error: 'internal error' });
      });
    });
    this.#address = await listen(server, 'http', this.name, this.#host, this.#port, this.#log);
    this.#server = server;
  }

  address(): { host: string; port: number } {
    if (this.#address === null) throw new SluiceError('CLOSED', `${this.name}: address() before open()`);
    return this.#address;
  }

  get buffered(): { records: number; bytes: number } {
    return { records: this.#queue.records, bytes: this.#queue.bytes };
  }

  /** Requests waiting for room before their bodies are read (tests, metrics). */
  get waitingRequests(): number {
    return this.#admission.length;
  }

  /** Requests whose records are queued or delivered but not yet committed. */
  get pendingRequests(): number {
    return this.#requests.length;
  }

  async next(signal: AbortSignal): Promise<SourceBatch | null> {
    if (this.#server === null) throw new SluiceError('CLOSED', `${this.name}: next() before open() or after close()`);
    for (;;) {
      const got = this.#queue.shift(this.#maxBatch);
      if (got !== null) {
        this.#delivered += got.batch.records.length;
        this.#admit();
        return got.batch;
      }
      if (signal.aborted || this.#server === null) return null;
      const abort = abortPromise(signal);
      await Promise.race([new Promise<void>((resolve) => (this.#wakeup = resolve)), abort.promise]);
      abort.off();
      this.#wakeup = null;
    }
  }

  /** Answers 200 to every request whose records were all delivered before this call. */
  async commit(): Promise<void> {
    const upTo = this.#delivered;
    let i = 0;
    while (i < this.#requests.length && this.#requests[i]!.endSeq <= upTo) {
      const r = this.#requests[i++]!;
      reply(r.res, 200, { accepted: r.records });
    }
    if (i > 0) this.#requests = this.#requests.slice(i);
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const r of this.#requests) reply(r.res, 503, { error: 'the job stopped before these records were committed; retry' });
    this.#requests = [];
    for (const a of this.#admission.splice(0)) a();
    this.#wakeup?.();
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== this.#path) return reply(res, 404, { error: `not found: POST records to ${this.#path}` });
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return reply(res, 405, { error: 'method not allowed: use POST' });
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.#maxBody) return tooLarge(req, res, this.#maxBody);
    if (!(await this.#waitForRoom())) {
      res.setHeader('retry-after', '1');
      return reply(res, 503, { error: this.#server === null ? 'shutting down' : 'the job is busy (its input buffer is full); retry later' });
    }
    const body = await readBody(req, this.#maxBody);
    if (body === 'too-large') return tooLarge(req, res, this.#maxBody);
    if (body === null) return; // the client went away
    if (this.#server === null) return reply(res, 503, { error: 'shutting down' });
    const records = splitBody(body, req.headers['content-type']);
    if (records.length === 0) return reply(res, 200, { accepted: 0 });
    const id = this.#nextReq++;
    const origin = `http:${this.#address!.host}:${this.#address!.port}#${id}`;
    const now = Date.now();
    for (const r of records) this.#queue.push(origin, r.n, r.value, now);
    this.#enqueued += records.length;
    this.#requests.push({ res, records: records.length, endSeq: this.#enqueued });
    this.#wakeup?.();
  }

  #hasRoom(): boolean {
    return this.#queue.records < this.#maxRecords && this.#queue.bytes < this.#maxBytes;
  }

  /** True when the request may read its body; false after admitTimeoutMs or on close. */
  #waitForRoom(): Promise<boolean> {
    if (this.#admission.length === 0 && this.#hasRoom()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const admit = () => {
        clearTimeout(timer);
        resolve(this.#server !== null);
      };
      const timer = setTimeout(() => {
        const i = this.#admission.indexOf(admit);
        if (i >= 0) this.#admission.splice(i, 1);
        resolve(false);
      }, this.#admitTimeoutMs);
      this.#admission.push(admit);
    });
  }

  /** Lets waiting requests in, oldest first, while there is room. */
  #admit(): void {
    while (this.#admission.length > 0 && this.#hasRoom()) this.#admission.shift()!();
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body) + '\n');
}

/** The body, or 'too-large' as soon as it passes `max` (the rest is then discarded), or null if the request broke off. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large' | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        resolve('too-large');
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(over ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', () => resolve(null));
    req.on('close', () => resolve(req.complete ? (over ? 'too-large' : Buffer.concat(chunks)) : null));
  });
}

function tooLarge(req: IncomingMessage, res: ServerResponse, max: number): void {
  res.setHeader('connection', 'close');
  reply(res, 413, { error: `body too large: the limit is ${max} bytes (maxBodyBytes)` });
  // Discard the rest rather than reset the connection under a client still sending.
  req.resume();
}

export function httpSource(options: HttpSourceOptions): HttpSource {
  const o = checkObject('httpSource', options);
  const path = checkString('httpSource', 'path', o.path, '/');
  if (!path.startsWith('/')) throw new SluiceError('INVALID_ARGUMENT', `httpSource: \`path\` must start with '/', got ${JSON.stringify(path)}`);
  return new HttpSource({
    host: checkString('httpSource', 'host', o.host, '127.0.0.1'),
    port: checkPort('httpSource', o.port),
    path,
    maxBodyBytes: checkInt('httpSource', 'maxBodyBytes', o.maxBodyBytes, 16 * 1024 * 1024),
    maxBufferedRecords: checkInt('httpSource', 'maxBufferedRecords', o.maxBufferedRecords, 10_000),
    maxBufferedBytes: checkInt('httpSource', 'maxBufferedBytes', o.maxBufferedBytes, 4 * 1024 * 1024),
    admitTimeoutMs: checkInt('httpSource', 'admitTimeoutMs', o.admitTimeoutMs, 30_000),
    log: checkFunction<(m: string) => void>('httpSource', 'log', o.log) ?? stderrLogger,
  });
}
