// Reading over HTTP: GET .../records (one batch, optionally long-polled) and
// GET .../stream (Server-Sent Events, tailing forever). Both wait with
// log.waitFor, never by polling, under an AbortSignal that fires when the
// client disconnects, when closeStreams() shuts the API down, or (long-poll)
// when wait_ms runs out.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Isolation, Log, ReadResult } from '../log/log.ts';
import type { LogRecord } from '../record.ts';
import { renderKey, renderValue } from '../log/record-json.ts';
import type { BrokerMetrics } from './metrics.ts';
import { HttpError, checkParams, errorBody, intParam, sendJson } from './http-io.ts';

export const MAX_WAIT_MS = 30_000;
export const MAX_RECORDS = 10_000;
const DEFAULT_RECORDS = 500;

/** Open long-polls and event streams, so a shutdown can end them instead of waiting on them. */
export class Streams {
  readonly #open = new Set<AbortController>();
  #closing = false;

  get closing(): boolean {
    return this.#closing;
  }

  /** A signal that aborts when the client goes away or closeAll() runs; call the returned release when done. */
  open(res: ServerResponse): { signal: AbortSignal; abort(): void; release(): void } {
    const ac = new AbortController();
    const abort = () => ac.abort();
    if (this.#closing) ac.abort();
    this.#open.add(ac);
    res.once('close', abort);
    return {
      signal: ac.signal,
      abort,
      release: () => {
        this.#open.delete(ac);
        res.off('close', abort);
      },
    };
  }

  closeAll(): void {
    this.#closing = true;
    for (const ac of this.#open) ac.abort();
  }
}

/** One record as the API returns it; values rendered like `sluice consume` (JSON as is, text as a string, else base64). */
export function recordJson(r: LogRecord): { json: string; bytes: number } {
  const k = renderKey(r.key);
  const v = renderValue(r.value);
  const json =
    `{"offset":${r.offset},"timestamp":${r.timestamp},"key":${k.json},"value":${v.json},"headers":${JSON.stringify(r.headers)}` +
    (k.base64 ? ',"keyEncoding":"base64"' : '') +
    (v.base64 ? ',"valueEncoding":"base64"' : '') +
    '}';
  return { json, bytes: (r.key?.length ?? 0) + (r.value?.length ?? 0) };
}

export function partitionParam(s: string): number {
  const p = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(p)) throw new HttpError(400, 'INVALID_ARGUMENT', `partition must be an integer >= 0, got ${JSON.stringify(s)}`);
  return p;
}

function isolationParam(q: URLSearchParams): Isolation {
  const v = q.get('isolation') ?? 'read_committed';
  if (v !== 'read_committed' && v !== 'read_uncommitted') {
    throw new HttpError(400, 'INVALID_ARGUMENT', `isolation must be read_committed or read_uncommitted, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** `offset`: an integer, `earliest` (the default: the oldest record still kept) or `latest` (only records appended from now on). */
async function offsetParam(log: Log, topic: string, partition: number, s: string | null): Promise<number> {
  if (s !== null && s !== 'earliest' && s !== 'latest') return intParam(new URLSearchParams({ offset: s }), 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const d = await log.describeTopic(topic);
  const p = d.partitions.find((x) => x.partition === partition);
  if (p === undefined) {
    throw new SluiceError(ErrorCodes.UNKNOWN_PARTITION, `topic ${topic} has partitions 0..${d.partitions.length - 1}; there is no partition ${partition}`, { topic, partition });
  }
  return s === 'latest' ? p.endOffset : p.startOffset;
}

/**
 * Reads from `offset`, skipping stretches that hold no visible record
 * (aborted transactions, compaction gaps) and, once at the end, waiting for
 * more until `signal` aborts. Returns the first non-empty read, or the last empty one.
 */
async function readOrWait(log: Log, topic: string, partition: number, offset: number, max: number, isolation: Isolation, signal: AbortSignal): Promise<ReadResult> {
  const read = (at: number) => log.read(topic, partition, at, { maxRecords: max, isolation });
  let r = await read(offset);
  while (r.records.length === 0 && !signal.aborted) {
    const at = r.nextOffset;
    if (at < r.highWatermark) {
      if (at <= offset) break; // no progress: return what there is rather than spin
      offset = at;
      r = await read(at);
      continue;
    }
    await log.waitFor(topic, partition, at, signal, isolation);
    offset = at;
    r = await read(at); // also after an abort: one last look
  }
  return r;
}

export async function handleRecords(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, log: Log, metrics: BrokerMetrics, streams: Streams, topic: string, partition: number): Promise<void> {
  checkParams(q, ['offset', 'max', 'wait_ms', 'isolation']);
  const max = intParam(q, 'max', DEFAULT_RECORDS, 1, MAX_RECORDS);
  const waitMs = intParam(q, 'wait_ms', 0, 0, MAX_WAIT_MS);
  const isolation = isolationParam(q);
  const offset = await offsetParam(log, topic, partition, q.get('offset'));
  const stream = streams.open(res);
  const timer = waitMs > 0 ? setTimeout(stream.abort, waitMs) : null;
  if (timer === null) stream.abort(); // no wait: one read, however empty
  let r: ReadResult;
  try {
    r = await readOrWait(log, topic, partition, offset, max, isolation, stream.signal);
  } finally {
    if (timer !== null) clearTimeout(timer);
    stream.release();
  }
  // The client left while we waited: nothing is delivered, so nothing is counted.
  if (req.socket.destroyed) return;
  let body = '{"records":[';
  let bytes = 0;
  for (let i = 0; i < r.records.length; i++) {
    const j = recordJson(r.records[i]!);
    body += (i === 0 ? '' : ',') + j.json;
    bytes += j.bytes;
  }
  body += `],"nextOffset":${r.nextOffset},"highWatermark":${r.highWatermark}}`;
  if (r.records.length > 0) metrics.recordsOut(topic, r.records.length, bytes);
  // Shutting down: a kept-alive connection would hold server.close() up for the keep-alive timeout.
  sendJson(res, 200, undefined, body, streams.closing ? { Connection: 'close' } : {});
}

/** Resolves once `res` can take more (or the stream is over): slow readers slow the stream instead of filling memory. */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

export interface SseOptions {
  heartbeatMs: number;
}

export async function handleStream(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, log: Log, metrics: BrokerMetrics, streams: Streams, topic: string, partition: number, o: SseOptions): Promise<void> {
  checkParams(q, ['offset', 'isolation']);
  if (streams.closing) throw new SluiceError(ErrorCodes.CLOSED, 'the broker is shutting down; reconnect in a moment');
  const isolation = isolationParam(q);
  // EventSource sends back the id of the last event it got when it reconnects: resume after it.
  const last = req.headers['last-event-id'];
  let offset: number;
  if (typeof last === 'string' && last.trim() !== '') {
    offset = intParam(new URLSearchParams({ 'Last-Event-ID': last.trim() }), 'Last-Event-ID', 0, 0, Number.MAX_SAFE_INTEGER - 1) + 1;
  } else {
    offset = await offsetParam(log, topic, partition, q.get('offset'));
  }
  // A first read before any header goes out, so an unknown topic or a bad offset is a proper 4xx.
  let r = await log.read(topic, partition, offset, { maxRecords: DEFAULT_RECORDS, isolation });

  const stream = streams.open(res);
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    // Proxies such as nginx would otherwise buffer the stream.
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  // Comments keep idle connections from being cut by proxies and load balancers.
  const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), o.heartbeatMs);
  try {
    while (!stream.signal.aborted) {
      let chunk = '';
      let bytes = 0;
      for (const rec of r.records) {
        const j = recordJson(rec);
        chunk += `event: record\nid: ${rec.offset}\ndata: ${j.json}\n\n`;
        bytes += j.bytes;
      }
      if (r.records.length > 0) {
        metrics.recordsOut(topic, r.records.length, bytes);
        if (!res.write(chunk)) await drained(res, stream.signal);
      }
      if (r.records.length === 0 && r.nextOffset <= offset && r.nextOffset < r.highWatermark) {
        throw new SluiceError(ErrorCodes.IO_ERROR, `reading ${topic}/${partition} made no progress at offset ${offset}; reconnect to retry`, { topic, partition, offset });
      }
      offset = r.nextOffset;
      if (r.records.length === 0 && offset >= r.highWatermark) await log.waitFor(topic, partition, offset, stream.signal, isolation);
      if (stream.signal.aborted) break;
      r = await log.read(topic, partition, offset, { maxRecords: DEFAULT_RECORDS, isolation });
    }
  } catch (e) {
    // The status is long gone: the failure (a deleted topic, an offset retention removed) becomes an event.
    const b = errorBody(e);
    res.write(`event: stream-error\ndata: ${JSON.stringify({ error: { code: b.code, message: b.message, details: b.details } })}\n\n`);
  } finally {
    clearInterval(heartbeat);
    stream.release();
    const socket = req.socket;
    // After closeStreams the connection must not idle in keep-alive: it would hold server.close() up.
    res.end(() => {
      if (streams.closing) socket.end();
    });
  }
}
